"""Grafana OnCall's "Formatted webhook" integration format, so senders can switch by URL alone.

Body (grafana/oncall `engine/config_integrations/formatted_webhook.py`, its `example_payload`
and the OnCall docs "Formatted webhook"): `alert_uid`, `title`, `image_url`, `state`,
`link_to_upstream_details`, `message`. As OnCall's templates read it: `state` "ok" (any case)
resolves, anything else triggers; alerts group by `alert_uid` (dedup key
`grafana-oncall-<alert_uid>`; a stable hash of the title without one); `title` is the summary,
`message` the description, `image_url` an image, `link_to_upstream_details` the source link.
The format has no severity: critical. Extra fields are kept in the details.
"""

from __future__ import annotations

from typing import Any

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Severity
from integrations.sources.common import done, links, require_object, stable_key, text
from integrations.sources.registry import Provider


def parse(body: Any, options: dict[str, Any]) -> list[NormalizedEvent]:
    body = require_object(body)
    errors: list[str] = []
    uid = text(body, "alert_uid", errors, limit=400)
    title = text(body, "title", errors)
    state = text(body, "state", errors)
    message = text(body, "message", errors)
    image_url = text(body, "image_url", errors)
    upstream = text(body, "link_to_upstream_details", errors)
    if not uid and not title and not errors:
        errors.append("'title' is missing (send 'title' or 'alert_uid').")
    done(errors)
    summary = title or f"Alert {uid}"
    return [
        NormalizedEvent(
            action=AlertAction.RESOLVE if state.strip().upper() == "OK" else AlertAction.TRIGGER,
            dedup_key=f"grafana-oncall-{uid}" if uid else stable_key("grafana-oncall", title),
            summary=summary,
            severity=Severity.CRITICAL,
            source="grafana-oncall",
            description=message,
            details={k: v for k, v in body.items() if k not in ("message", "title")},
            links=links([("Source", upstream)]),
            images=[{"src": image_url, "alt": summary}]
            if image_url.startswith(("http://", "https://"))
            else [],
        )
    ]


SAMPLE = {
    "alert_uid": "08d6891a-835c-e661-39fa-96b6a9e26552",
    "title": "TestAlert: The whole system is down",
    "image_url": "https://upload.wikimedia.org/wikipedia/commons/e/ee/Grumpy_Cat_by_Gage_Skidmore.jpg",
    "state": "alerting",
    "link_to_upstream_details": "https://en.wikipedia.org/wiki/Downtime",
    "message": "This alert was sent by user for the demonstration purposes\nSmth happened. Oh no!",
}

PROVIDER = Provider(kind="grafana-oncall", parse=parse, sample=SAMPLE)
