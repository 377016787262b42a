"""The policy admin's dry run: every page the saved policy would make for an incident
triggering at a chosen time if nobody acknowledged, and whom each would reach then.

It is `escalation.dryrun.dry_run`, the engine's own plan, laid out as a table. The time is read
in a zone the operator picks (the organization's by default) and every time is shown in it.
It is a GET form: nothing is written, and a dry run can be linked to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from escalation.admin_forms import DryRunForm
from escalation.dryrun import MAX_PAGES, DryRunPage, dry_run
from escalation.models import EscalationPolicy
from notifications.models import Channel

TEMPLATE = "admin/escalation/escalationpolicy/dry_run.html"


@dataclass(frozen=True)
class DryRunRow:
    page: DryRunPage
    time: str
    targets: str
    users: str
    channels: str

    @property
    def minutes(self) -> str:
        return f"{self.page.offset_minutes:g}"

    @property
    def repeat(self) -> str:
        return str(self.page.loop) if self.page.loop else "first pass"

    @property
    def turn(self) -> str:
        turn = self.page.round_robin_turn
        return "" if turn is None else f"turn {turn + 1}"


def _target_text(target: dict) -> str:
    kind = {"user": "", "team": "team ", "schedule": "schedule "}.get(target["type"], "")
    lead = " (lead)" if target.get("lead_only") else ""
    return f"{kind}{target.get('name') or target['id']}{lead}"


def _row(page: DryRunPage, tz: ZoneInfo) -> DryRunRow:
    labels = dict(Channel.choices)
    return DryRunRow(
        page=page,
        time=f"{page.at.astimezone(tz):%a %Y-%m-%d %H:%M}",
        targets=", ".join(_target_text(target) for target in page.targets),
        users=", ".join(email for _, email in page.users),
        channels=", ".join(str(labels.get(c, c)) for c in page.channels) or "each person's rules",
    )


def dry_run_page(request: HttpRequest, policy: EscalationPolicy, context: dict) -> HttpResponse:
    """The form, and the table for the time it names (now, before anything is submitted)."""
    zone_name = policy.organization.time_zone or "UTC"
    if "at" in request.GET:
        form = DryRunForm(request.GET)
        at: datetime | None = None
        if form.is_valid():
            at, zone_name = form.cleaned_data["instant"], form.cleaned_data["time_zone"]
    else:
        at = timezone.now().replace(second=0, microsecond=0)
        local = at.astimezone(ZoneInfo(zone_name))
        form = DryRunForm(initial={"at": f"{local:%Y-%m-%dT%H:%M}", "time_zone": zone_name})
    pages = dry_run(policy, at) if at is not None else []
    tz = ZoneInfo(zone_name)
    return TemplateResponse(
        request,
        TEMPLATE,
        {
            **context,
            "title": f"Dry run of {policy.name}",
            "policy": policy,
            "form": form,
            "at": None if at is None else f"{at.astimezone(tz):%a %Y-%m-%d %H:%M} {zone_name}",
            "rows": [_row(page, tz) for page in pages],
            "truncated": len(pages) >= MAX_PAGES,
            "max_pages": MAX_PAGES,
        },
    )
