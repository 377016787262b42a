"""Admission for every inbound endpoint: a known, enabled key of the right kind, under its
rate limit. Each endpoint renders the refusal in its provider's error format."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpResponse

from integrations import ratelimit
from integrations.models import Integration, IntegrationKind
from integrations.selectors import integration_by_key


@dataclass(frozen=True)
class Refusal:
    reason: str  # unknown_key | disabled | wrong_kind | rate_limited
    message: str
    retry_after: int = 0


def admit(
    key: str,
    kinds: tuple[IntegrationKind, ...],
    refuse: Callable[[Refusal], HttpResponse],
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
