"""Which parser serves which integration kind at `POST /api/v1/integrations/<kind>/`.

Each provider module defines `PROVIDER = Provider(...)`; modules are imported on first use, so
a broken provider cannot stop the others (or the server) from starting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from django.http import HttpRequest

from incidents.ingestion import NormalizedEvent

Parser = Callable[[Any, dict[str, Any]], list[NormalizedEvent]]
# (request, signing secret) -> the provider's own signature check passed?
Verifier = Callable[[HttpRequest, str], bool]


@dataclass(frozen=True)
class Provider:
    kind: str
    parse: Parser
    # None: the generic check (X-OpsKnight-Signature / X-Signature: HMAC-SHA256 of the body).
    verify: Verifier | None = None
    # What a sender refused by `verify` is told to send instead (e.g. a token header).
    signature_help: str = ""
    # "json", or "form" for providers that post application/x-www-form-urlencoded (the form
    # fields arrive as a dict of strings), or "json-or-form".
    body: str = "json"
    # Extra headers the provider can carry the integration key in, besides the standard ones.
    key_headers: tuple[str, ...] = ()
    # A sample payload for the admin's test console, as the provider documents it.
    sample: dict[str, Any] = field(default_factory=dict)
    # For messages that are not alerts (an SNS SubscriptionConfirmation): given the body, do
    # what the message asks and return the JSON to answer with; None for an ordinary alert.
    intercept: Callable[[Any], dict[str, Any] | None] | None = None


# kind -> module. Every kind here is an IntegrationKind served by the generic webhook endpoint.
MODULES: dict[str, str] = {
    "grafana": "integrations.sources.grafana",
    "datadog": "integrations.sources.datadog",
    "keep": "integrations.sources.keep",
    "grafana-oncall": "integrations.sources.grafana_oncall",
    "webhook": "integrations.sources.webhook",
    "cloudwatch": "integrations.sources.cloudwatch",
    "azure": "integrations.sources.azure",
    "gcp": "integrations.sources.gcp",
    "newrelic": "integrations.sources.newrelic",
    "dynatrace": "integrations.sources.dynatrace",
    "appdynamics": "integrations.sources.appdynamics",
    "sentry": "integrations.sources.sentry",
    "github": "integrations.sources.github",
    "gitlab": "integrations.sources.gitlab",
    "bitbucket": "integrations.sources.bitbucket",
    "vercel": "integrations.sources.vercel",
    "elastic": "integrations.sources.elastic",
    "honeycomb": "integrations.sources.honeycomb",
    "splunk-observability": "integrations.sources.splunk_observability",
    "splunk-oncall": "integrations.sources.splunk_oncall",
    "nagios": "integrations.sources.nagios",
    "icinga": "integrations.sources.icinga",
    "zabbix": "integrations.sources.zabbix",
    "uptimerobot": "integrations.sources.uptimerobot",
    "pingdom": "integrations.sources.pingdom",
    "betterstack": "integrations.sources.betterstack",
    "uptime-kuma": "integrations.sources.uptime_kuma",
    "email": "integrations.sources.email",
}


class UnknownProvider(LookupError):
    pass


def provider(kind: str) -> Provider:
    module_path = MODULES.get(kind)
    if module_path is None:
        raise UnknownProvider(kind)
    try:
        module = import_module(module_path)
    except ModuleNotFoundError as exc:
        if exc.name == module_path:
            raise UnknownProvider(kind) from exc
        raise
    return module.PROVIDER


def available() -> list[Provider]:
    """Every provider whose module exists (the list grows as parsers land)."""
    found = []
    for kind in MODULES:
        try:
            found.append(provider(kind))
        except UnknownProvider:
            continue
    return found
