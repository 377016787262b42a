"""Email: each recorded mail (.eml) or inbound-parse post gives exactly this event; a resolve
mail closes the problem mail's incident through HTTP; Mailgun's signature is enforced."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from email import message_from_bytes, policy
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidents.ingestion import NormalizedEvent
from incidents.models import Alert, AlertAction, Incident, Severity, Status
from integrations.services import integration_create
from integrations.sources.common import InvalidPayload
from integrations.sources.email import (
    Options,
    events_from_mail,
    html_to_text,
    mail_from_message,
    parse,
    read_options,
)
from tests.integrations.conftest import FIXTURES, load, written
from tests.integrations.sources.helpers import connect

MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"  # signed mailgun_route.json


def eml(name: str, options: dict | None = None) -> NormalizedEvent:
    raw = (FIXTURES / "email" / f"{name}.eml").read_bytes()
    message = message_from_bytes(raw, policy=policy.default)
    (event,) = events_from_mail(mail_from_message(message), read_options(options or {}))
    return event


def event_for(subject: str, options: dict | None = None) -> NormalizedEvent:
    (event,) = parse({"from": "monitor@example.com", "subject": subject}, options or {})
    return event


# --- Recorded mails ---------------------------------------------------------------------------


def test_a_grafana_mail_triggers():
    event = eml("grafana_firing")
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="email:higherrorrate checkout api",
        summary="[FIRING:1] HighErrorRate checkout-api (critical)",
        severity=Severity.CRITICAL,
        source="grafana@grafana.example.com",
        description=event.description,
        details={
            "from": "Grafana <grafana@grafana.example.com>",
            "to": "checkout@alerts.example.com",
            "cc": "",
            "recipient": "",
            "message_id": "<ee6c5ad1a9b04ff4@grafana.example.com>",
            "date": "Fri, 20 Nov 2026 09:14:03 +0000",
            "via": "smtp",
        },
        occurred_at=datetime(2026, 11, 20, 9, 14, 3, tzinfo=UTC),
    )
    assert event.description.startswith("1 firing alert instance\n\nGROUPED BY\n")
    assert "summary = Error rate 7.2% over 5m (threshold 5%)" in event.description


def test_the_resolved_grafana_mail_resolves_the_same_key():
    event = eml("grafana_resolved")
    assert (event.action, event.dedup_key) == (
        AlertAction.RESOLVE,
        "email:higherrorrate checkout api",
    )


def test_nagios_problem_and_recovery_share_a_key_though_their_states_differ():
    problem, recovery = eml("nagios_problem"), eml("nagios_recovery")
    assert (problem.action, problem.severity) == (AlertAction.TRIGGER, Severity.CRITICAL)
    assert recovery.action == AlertAction.RESOLVE
    assert problem.dedup_key == recovery.dedup_key == "email:service db1 disk"
    assert problem.occurred_at == datetime(2026, 11, 20, 14, 20, 11, tzinfo=UTC)


def test_an_html_only_mail_with_an_encoded_subject_is_made_text():
    event = eml("html_only")
    assert event.summary == "🔴 Checkout API is DOWN"
    assert (event.action, event.severity) == (AlertAction.TRIGGER, Severity.CRITICAL)
    assert event.dedup_key == "email:checkout api"
    assert event.description == (
        "Checkout API is DOWN\n\nReason: HTTP 503 \u2013 Service Unavailable\n\n"
        "Monitor https://checkout.example.com/health\n"
        "Since 2026-11-20 09:14:03 UTC\n\nCafé team: status page"
    )
    assert event.occurred_at == datetime(2026, 11, 20, 9, 14, 4, tzinfo=UTC)


def test_message_id_dedup_lets_a_reply_in_the_thread_resolve_it():
    options = {"dedup": "message-id", "resolve": r"\bresolved\b"}
    problem, reply = eml("cron_failed", options), eml("reply_resolved", options)
    assert problem.action == AlertAction.TRIGGER
    assert problem.severity == Severity.ERROR  # "failed"
    assert problem.source == "root@backup-3.example.com"
    assert reply.action == AlertAction.RESOLVE
    assert problem.dedup_key == reply.dedup_key == "email:<backup-3-20261120-0200@cron.example.com>"
    assert reply.details["cc"] == "ops@example.com"


def test_a_custom_resolve_pattern_is_cut_out_before_keying():
    problem = eml("cron_failed")
    reply = eml("reply_resolved", {"resolve": r"-\s*resolved$"})
    assert (problem.action, reply.action) == (AlertAction.TRIGGER, AlertAction.RESOLVE)
    assert problem.dedup_key == reply.dedup_key == "email:backup job failed on backup 3"


def test_a_dedup_regex_picks_the_key_from_the_subject():
    event = eml("nagios_problem", {"dedup": r"Alert: (?P<key>\S+)"})
    assert event.dedup_key == "email:db1/disk"


# --- Subjects ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("problem", "resolution"),
    [
        ("[FIRING:2] HighCPU db1", "[RESOLVED] HighCPU db1"),
        ("ALERT: disk full on db1", "Re: RECOVERY: Disk  full on DB1"),
        ("Monitor is DOWN: Checkout API", "Monitor is UP: Checkout API"),
        (
            "DOWN alert: checkout (checkout.example.com) is DOWN",
            "UP alert: checkout (checkout.example.com) is UP",
        ),
        ("Fwd: [prod] [CRITICAL] queue backlog", "[prod] queue backlog is OK"),
        ("(WARNING) api latency", "(OK) api latency"),
    ],
)
def test_a_resolution_subject_resolves_its_problem(problem, resolution):
    trigger, resolve = event_for(problem), event_for(resolution)
    assert (trigger.action, resolve.action) == (AlertAction.TRIGGER, AlertAction.RESOLVE)
    assert trigger.dedup_key == resolve.dedup_key


@pytest.mark.parametrize(
    "subject",
    ["Up to 50% errors on checkout", "Disk usage is up 20%", "Backup OK count dropped", "Okta"],
)
def test_status_words_mid_sentence_do_not_resolve(subject):
    assert event_for(subject).action == AlertAction.TRIGGER


@pytest.mark.parametrize(
    ("subject", "severity"),
    [
        ("[Alert] Disk warning on db1", Severity.WARNING),
        ("Scheduled downtime for the webpage", Severity.WARNING),  # no substring matches
        ("Checkout is DOWN", Severity.CRITICAL),
        ("Warning, then CRITICAL: load", Severity.CRITICAL),  # the gravest word wins
        ("Nightly export failed", Severity.ERROR),
        ("[INFO] weekly report", Severity.INFO),
    ],
)
def test_severity_comes_from_whole_words_of_the_subject(subject, severity):
    assert event_for(subject).severity == severity


def test_the_options_can_fix_the_severity():
    assert event_for("Checkout is DOWN", {"severity": "info"}).severity == Severity.INFO


def test_a_mail_without_subject_is_named_by_its_first_body_line():
    (event,) = parse({"from": "cron@example.com", "text": "\n  rsync failed: code 23\nmore"}, {})
    assert (event.summary, event.dedup_key) == (
        "rsync failed: code 23",
        "email:rsync failed code 23",
    )


def test_html_to_text_drops_scripts_styles_and_tags():
    html = "<style>p{}</style><p>a &amp; <b>b</b></p><script>x()</script><ul><li>c</li></ul>"
    assert html_to_text(html) == "a & b\n\nc"


# --- Inbound parse posts ----------------------------------------------------------------------


def test_a_sendgrid_inbound_parse_post_is_the_same_alert_as_the_mail():
    (event,) = parse(load("email", "sendgrid_parse"), {})
    mail = eml("grafana_firing")
    assert (event.dedup_key, event.summary, event.severity, event.source) == (
        mail.dedup_key,
        mail.summary,
        mail.severity,
        mail.source,
    )
    assert event.details["recipient"] == "checkout@parse.example.com"
    assert event.details["message_id"] == "<ee6c5ad1a9b04ff4@grafana.example.com>"
    assert event.details["via"] == "sendgrid"
    assert event.occurred_at == datetime(2026, 11, 20, 9, 14, 3, tzinfo=UTC)


def test_a_sendgrid_raw_mime_post_is_parsed_as_the_message():
    (event,) = parse(load("email", "sendgrid_raw"), {})
    assert event.action == AlertAction.RESOLVE
    assert event.dedup_key == eml("nagios_problem").dedup_key
    assert event.details["to"] == event.details["recipient"] == "db-oncall@parse.example.com"
    assert event.description.startswith("***** Nagios *****")


def test_a_mailgun_route_post_is_the_same_alert_as_the_mail():
    (event,) = parse(load("email", "mailgun_route"), {})
    mail = eml("nagios_problem")
    assert (event.action, event.dedup_key, event.summary, event.severity, event.occurred_at) == (
        AlertAction.TRIGGER,
        mail.dedup_key,
        mail.summary,
        Severity.CRITICAL,
        mail.occurred_at,
    )
    assert event.description.endswith("DISK CRITICAL - free space: / 812 MB (4% inode=71%):")
    assert event.details == {
        "from": "Nagios <nagios@monitor1.example.com>",
        "to": "db-oncall@mg.example.com",
        "cc": "",
        "recipient": "db-oncall@mg.example.com",
        "message_id": "<20261120142011.3F1A2C0041@monitor1.example.com>",
        "date": "Fri, 20 Nov 2026 09:20:11 -0500",
        "via": "mailgun",
    }


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ([], "The body must be a JSON object."),
        ({}, "'from' is missing."),
        ({"subject": "x", "text": "y"}, "'from' is missing."),
        ({"recipient": "a@b", "body-plain": "x"}, "'sender' is missing."),
        ({"from": "a@b", "subject": ["x"]}, "'subject' must be a string."),
    ],
)
def test_posts_that_are_not_mail_are_refused_by_field(body, error):
    with pytest.raises(InvalidPayload) as refused:
        parse(body, {})
    assert error in refused.value.errors


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"dedup": 3}, "options.dedup must be 'subject', 'message-id' or a regex."),
        ({"dedup": "(unclosed"}, "options.dedup is not a valid regex"),
        ({"dedup": r"Alert: (\S+)"}, "options.dedup: the regex needs a named group (?P<key>…)."),
        ({"resolve": "[z-a]"}, "options.resolve is not a valid regex"),
        ({"severity": "urgent"}, "options.severity must be one of critical, error, warning, info."),
    ],
)
def test_bad_options_are_named(options, error):
    with pytest.raises(InvalidPayload) as refused:
        read_options(options)
    assert any(message.startswith(error) for message in refused.value.errors)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.binary(max_size=600) | st.text(max_size=600).map(str.encode))
def test_any_bytes_as_a_message_make_one_event_that_can_be_stored(raw):
    message = message_from_bytes(b"Subject: =?utf-8?q?x?=\r\n" + raw, policy=policy.default)
    (event,) = events_from_mail(mail_from_message(message), Options())
    stored = [event.summary, event.description, event.source, *event.details.values()]
    for value in stored:
        assert "\x00" not in value
        value.encode("utf-8")  # raises on a lone surrogate, which PostgreSQL would refuse


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(headers=st.text(max_size=400), raw=st.text(max_size=400))
def test_any_header_block_or_raw_field_parses_or_is_refused_by_field(headers, raw):
    for body in ({"from": "a@b", "headers": headers}, {"email": raw}):
        try:
            outcome: list | InvalidPayload = parse(body, {})
        except InvalidPayload as refused:
            outcome = refused
        assert outcome.errors if isinstance(outcome, InvalidPayload) else len(outcome) == 1


# --- Through HTTP -----------------------------------------------------------------------------


def _sendgrid_post(client, key: str, fields: dict, **extra):
    # The test client encodes a dict as multipart/form-data, as SendGrid posts.
    return client.post(f"/api/v1/integrations/email/{key}/", data=fields, **extra)


def _mailgun_post(client, key: str, fields: dict):
    return client.post(
        f"/api/v1/integrations/email/{key}/",
        data=urlencode(fields),
        content_type="application/x-www-form-urlencoded",
    )


@pytest.mark.django_db
def test_a_problem_mail_then_its_resolution_through_sendgrid(client, service):
    email = connect(service, "email")
    problem = load("email", "sendgrid_parse")
    response = _sendgrid_post(client, email.key, problem)
    assert response.status_code == 202, response.content
    key = "email:higherrorrate checkout api"
    assert response.json()["results"] == [{"dedup_key": key, "outcome": "triggered"}]
    incident = Incident.objects.get()
    assert (incident.title, incident.severity) == (problem["subject"], Severity.CRITICAL)
    resolution = problem | {"subject": "[RESOLVED] HighErrorRate checkout-api (critical)"}
    response = _sendgrid_post(client, email.key, resolution)
    assert response.json()["results"] == [{"dedup_key": key, "outcome": "resolved"}]
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED
    assert Alert.objects.filter(incident=incident).count() == 2


@pytest.mark.django_db
def test_sendgrid_may_send_the_key_as_basic_auth(client, service):
    email = connect(service, "email")
    credentials = base64.b64encode(f"inbound:{email.key}".encode()).decode()
    response = client.post(
        "/api/v1/integrations/email/",
        data=load("email", "sendgrid_parse"),
        headers={"Authorization": f"Basic {credentials}"},
    )
    assert response.status_code == 202, response.content


@pytest.mark.django_db
def test_a_mailgun_post_with_a_good_signature_is_taken(client, service):
    email = integration_create(
        service=service, kind="email", name="Mailgun", signing_secret=MAILGUN_KEY
    )
    response = _mailgun_post(client, email.key, load("email", "mailgun_route"))
    assert response.status_code == 202, response.content
    assert Incident.objects.get().title == "** PROBLEM Service Alert: db1/Disk / is CRITICAL **"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [
        {"signature": hmac.new(b"another-key-entirely", b"x", hashlib.sha256).hexdigest()},
        {"token": "a-token-the-signature-was-not-made-for"},
        {"signature": ""},
        {"timestamp": ""},
    ],
)
def test_a_mailgun_post_with_a_bad_or_missing_signature_is_refused(client, service, change):
    email = integration_create(
        service=service, kind="email", name="Mailgun", signing_secret=MAILGUN_KEY
    )
    before = written()
    response = _mailgun_post(client, email.key, load("email", "mailgun_route") | change)
    assert response.status_code == 401
    assert response.json()["error"] == "bad_signature"
    assert written() == before


@pytest.mark.django_db
def test_without_a_signing_secret_mailgun_posts_need_only_the_key(client, service):
    email = connect(service, "email")
    fields = load("email", "mailgun_route") | {"signature": "", "token": ""}
    assert _mailgun_post(client, email.key, fields).status_code == 202


@pytest.mark.django_db
def test_bad_options_are_a_400_naming_them_and_write_nothing(client, service):
    email = connect(service, "email", dedup="(unclosed")
    before = written()
    response = _sendgrid_post(client, email.key, load("email", "sendgrid_parse"))
    assert response.status_code == 400
    assert response.json()["details"]["errors"][0].startswith("options.dedup is not a valid")
    assert written() == before
