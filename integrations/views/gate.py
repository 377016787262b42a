"""Admission for every inbound endpoint: a known, enabled key of the right kind, under its
rate limit. Each endpoint renders the refusal in its provider's error format."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse

from integrations import ratelimit
from integrations.models import Integration, IntegrationKind
from integrations.selectors import integration_by_key
from integrations.services import signing_secret

SIGNATURE_HEADERS = ("X-OpsKnight-Signature", "X-Hub-Signature-256", "X-Signature")


@dataclass(frozen=True)
class Refusal:
    reason: str  # unknown_key | disabled | wrong_kind | bad_signature | rate_limited
    message: str
    retry_after: int = 0


def signature_valid(request: HttpRequest, secret: str) -> bool:
    """HMAC-SHA256 of the raw body, hex, as `sha256=<hex>` (or bare hex), constant-time."""
    expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    for header in SIGNATURE_HEADERS:
        supplied = request.headers.get(header, "").strip().removeprefix("sha256=")
        if supplied and hmac.compare_digest(supplied.lower().encode(), expected.encode()):
            return True
    return False


def admit(
    key: str,
    kinds: tuple[IntegrationKind, ...],
    refuse: Callable[[Refusal], HttpResponse],
    request: HttpRequest | None = None,
    verify: Callable[[HttpRequest, str], bool] | None = None,
    signature_help: str = "",
) -> Integration | HttpResponse:
    integration = integration_by_key(key)
    if integration is None:
        return refuse(Refusal("unknown_key", "The integration key is not valid."))
    if not integration.enabled or not integration.service.is_active:
        return refuse(Refusal("disabled", "This integration is disabled."))
    if integration.kind not in kinds:
        return refuse(
            Refusal(
                "wrong_kind",
                f"This key belongs to a {integration.get_kind_display()} integration; "
                f"send its events to that endpoint.",
            )
        )
    # With a signing secret set, only signed requests get in: the key alone may have leaked
    # (it often travels in URLs and configuration files).
    check = verify or signature_valid
    if integration.signing_secret_encrypted and (
        request is None or not check(request, signing_secret(integration))
    ):
        return refuse(
            Refusal(
                "bad_signature",
                signature_help
                or "This integration requires a valid HMAC-SHA256 signature of the body in "
                "X-OpsKnight-Signature: sha256=<hex>.",
            )
        )
    decision = ratelimit.hit(integration.pk, integration.rate_limit_per_minute)
    if not decision.allowed:
        response = refuse(
            Refusal(
                "rate_limited",
                f"More than {decision.limit} events a minute for this integration; retry later.",
                decision.retry_after_seconds,
            )
        )
        response["Retry-After"] = str(decision.retry_after_seconds)
        return response
    return integration
