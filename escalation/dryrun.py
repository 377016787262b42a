"""Dry run: what a policy would do for an incident triggering at a given time, nobody answering.

It runs the engine's own plan (`escalation.plan`) over a fresh snapshot of the policy and asks
`oncall` who each page would reach at the moment that page would go out, so a hand-off
between two levels shows up as different people.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from escalation.models import EscalationPolicy
from escalation.plan import plan
from escalation.snapshots import snapshot_policy
from escalation.targets import TargetResolver
from opsknight.models import User

# 20 steps, 10 passes and round-robin turns could be thousands of rows; nobody reads past this.
MAX_PAGES = 500


@dataclass(frozen=True)
class DryRunPage:
    index: int
    offset_minutes: float
    at: datetime
    level: int
    loop: int
    round_robin_turn: int | None
    targets: tuple[dict, ...]
    users: tuple[tuple[int, str], ...]  # (id, email)
    channels: tuple[str, ...]  # empty: each person's own rules
    high_urgency_only: bool
    notes: tuple[str, ...]


def dry_run(policy: EscalationPolicy, at: datetime) -> list[DryRunPage]:
    snapshot = snapshot_policy(policy)
    pages = plan(snapshot)[:MAX_PAGES]
    resolver = TargetResolver(
        policy.organization_id,
        [target for page in pages for target in page.targets],
        [at + page.offset for page in pages],
    )
    resolved = [
        (page, at + page.offset, resolver.resolve(page.targets, at + page.offset)) for page in pages
    ]
    emails = dict(
        User.objects.filter(
            pk__in={uid for _, _, found in resolved for uid in found.user_ids}
        ).values_list("pk", "email")
    )
    result = []
    for page, when, found in resolved:
        step = snapshot["steps"][page.step]
        result.append(
            DryRunPage(
                index=page.index,
                offset_minutes=page.offset.total_seconds() / 60,
                at=when,
                level=page.level,
                loop=page.loop,
                round_robin_turn=page.round_robin_turn,
                targets=page.targets,
                users=tuple((uid, emails.get(uid, "")) for uid in found.user_ids),
                channels=tuple(step.get("channels", ())),
                high_urgency_only=bool(step.get("high_urgency_only")),
                notes=tuple(found.notes),
            )
        )
    return result
