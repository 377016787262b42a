"""One HTTP POST to an outbound destination, classified as sent, retryable or final.

`requests` (already installed with twilio and pywebpush) carries it, with a 10 s timeout, no
redirects (a redirect could lead past the SSRF guard), no proxies or netrc from the
environment, and a connection pinned to the addresses the guard vetted: the URL's host is
swapped for the vetted IP while the Host header, TLS SNI and certificate check still use the
host name, so the name is resolved once, by the guard, and never again by the HTTP client.

Errors never quote the URL: Teams, Discord and Google Chat webhook URLs and Telegram's bot URL
carry credentials, and error texts end up in the admin.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from notifications.outbound import guard

TIMEOUT = 10  # seconds, to connect and between bytes of the answer
USER_AGENT = "OpsKnight-Outbound/1.0"
MAX_ADDRESSES = 3  # addresses of one host tried in turn when connecting fails
SNIPPET = 300  # characters of an error answer kept for the record
SECRET_PIECE = 16  # URL path segments and query values this long are treated as tokens

_RETRYABLE_STATUS = {408, 429}


class SendError(Exception):
    """The destination refused or could not be reached. `permanent`: retrying cannot help."""

    def __init__(
        self, message: str, *, permanent: bool = False, status_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.status_code = status_code


@dataclass(frozen=True)
class HttpPost:
    url: str
    body: bytes
    # The URL came from an organization: vet it and connect only to the vetted addresses.
    # False for URLs built from our own settings (the Telegram API base).
    guarded: bool = True
    signing_secret: str = ""  # set for the generic kind: signed at the moment of sending
    headers: tuple[tuple[str, str], ...] = ()
    secrets: tuple[str, ...] = ()  # never to appear in an error text (tokens, webhook URLs)


@dataclass(frozen=True)
class HttpResult:
    status_code: int


def signature_headers(secret: str, body: bytes, *, timestamp: int) -> dict[str, str]:
    """Stripe-style: HMAC-SHA256 of "<timestamp>.<body>", so a receiver can refuse replays
    of an old body by its timestamp and forgeries by the digest."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return {
        "X-OpsKnight-Timestamp": str(timestamp),
        "X-OpsKnight-Signature": f"t={timestamp},v1={digest}",
    }


class _PinnedAdapter(HTTPAdapter):
    """Connects to an IP address while TLS still names and verifies the original host."""

    def __init__(self, hostname: str) -> None:
        self._hostname = hostname
        super().__init__(max_retries=0)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = self._hostname
            pool_kwargs["assert_hostname"] = self._hostname
        return host_params, pool_kwargs


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _targets(vetted: guard.VettedURL) -> list[str]:
    """The URL once per vetted address, with the address in place of the host name."""
    parts = vetted.parts
    return [
        parts._replace(netloc=f"{_bracketed(address)}:{vetted.port}").geturl()
        for address in vetted.addresses[:MAX_ADDRESSES]
    ]


def _host_header(vetted: guard.VettedURL) -> str:
    default = 443 if vetted.parts.scheme == "https" else 80
    host = _bracketed(vetted.hostname)
    return host if vetted.port == default else f"{host}:{vetted.port}"


def _secret_parts(secrets: tuple[str, ...]) -> list[str]:
    """The secrets, and for URLs also their long path segments and query values: an error
    answer may echo a webhook's token without the rest of its URL."""
    parts: set[str] = set()
    for secret in filter(None, secrets):
        parts.add(secret)
        split = urlsplit(secret)
        if split.scheme and split.netloc:
            pieces = split.path.split("/") + [v for _, v in parse_qsl(split.query)]
            parts.update(piece for piece in pieces if len(piece) >= SECRET_PIECE)
    return sorted(parts, key=len, reverse=True)  # longest first: whole URL before its parts


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in _secret_parts(secrets):
        text = text.replace(secret, "[redacted]")
    return text


def _never_connected(exc: requests.ConnectionError) -> bool:
    """Nothing was sent: the next address may be tried without risking a second post."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


def _classify(response: requests.Response, host: str, secrets: tuple[str, ...]) -> HttpResult:
    status = response.status_code
    if 200 <= status < 300:
        return HttpResult(status_code=status)
    raw = response.raw.read(SNIPPET * 4, decode_content=True) or b""
    snippet = " ".join(raw.decode("utf-8", "replace").split())[:SNIPPET]
    message = _redact(f"HTTP {status} from {host}" + (f": {snippet}" if snippet else ""), secrets)
    if 300 <= status < 400:
        message += " (redirects are not followed)"
    retryable = status in _RETRYABLE_STATUS or status >= 500
    raise SendError(message, permanent=not retryable, status_code=status)


def post(request: HttpPost, *, verify: bool | str = True) -> HttpResult:
    """POST once. Raises SendError, permanent for refused URLs and 4xx other than 408/429.

    `verify`: a CA bundle path instead of the system's certificates (a private CA).
    """
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **dict(request.headers),
    }
    vetted: guard.VettedURL | None = None
    if request.guarded:
        try:
            vetted = guard.vet(request.url)
        except guard.RefusedURL as exc:
            raise SendError(f"destination refused: {exc}", permanent=True) from exc
        except guard.UnresolvableHost as exc:
            raise SendError(str(exc)) from exc
        host, targets = vetted.hostname, _targets(vetted)
        headers["Host"] = _host_header(vetted)
    else:
        host, targets = urlsplit(request.url).hostname or "the destination", [request.url]
    if request.signing_secret:
        headers |= signature_headers(
            request.signing_secret, request.body, timestamp=int(time.time())
        )
    secrets = (*request.secrets, request.url)

    with requests.Session() as session:
        session.trust_env = False  # an environment proxy would resolve the name again
        if vetted is not None:
            session.mount("https://", _PinnedAdapter(vetted.hostname))
        session.mount("http://", HTTPAdapter(max_retries=0))
        for number, url in enumerate(targets, start=1):
            try:
                response = session.post(
                    url,
                    data=request.body,
                    headers=headers,
                    timeout=TIMEOUT,
                    allow_redirects=False,
                    stream=True,  # read at most a snippet of what comes back
                    verify=verify,
                )
            except requests.Timeout as exc:
                if isinstance(exc, requests.ConnectTimeout) and number < len(targets):
                    continue
                raise SendError(f"no answer from {host} within {TIMEOUT} s") from exc
            except requests.exceptions.SSLError as exc:
                raise SendError(f"TLS with {host} failed: certificate or handshake") from exc
            except requests.ConnectionError as exc:
                if _never_connected(exc) and number < len(targets):
                    continue
                raise SendError(f"could not connect to {host}") from exc
            except requests.RequestException as exc:
                raise SendError(f"request to {host} failed ({type(exc).__name__})") from exc
            with response:
                return _classify(response, host, secrets)
    raise SendError(f"could not connect to {host}")  # pragma: no cover - targets is never empty
