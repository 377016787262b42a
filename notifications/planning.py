"""Which deliveries a page makes for one person: their rules for the incident's urgency, or
the organization defaults of the OpsKnight seed until they set their own.

Defaults, all at once: HIGH every channel, MEDIUM email, push and Slack, LOW email and Slack;
only channels the person can be reached on count, and their login email always can.
An escalation step's channel override narrows the plan; if it would leave nothing, the
person's own plan stands (a page that reaches nobody helps nobody).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from incidents.models import Urgency
from notifications.models import Channel, ContactMethod, NotificationRule
from opsknight.models import User

DEFAULT_CHANNELS = {
    Urgency.HIGH: tuple(Channel.values),
    Urgency.MEDIUM: (Channel.EMAIL, Channel.PUSH, Channel.SLACK),
    Urgency.LOW: (Channel.EMAIL, Channel.SLACK),
}


@dataclass(frozen=True)
class PlannedDelivery:
    delay_minutes: int
    channel: str
    address: str
    contact_method_id: int | None


def _verified(user: User) -> list[ContactMethod]:
    return list(
        ContactMethod.objects.filter(
            user=user, verified_at__isnull=False, opted_out_at__isnull=True
        ).order_by("id")
    )


def _defaults(user: User, urgency: str) -> list[PlannedDelivery]:
    methods = _verified(user)
    plan = [
        PlannedDelivery(0, method.channel, method.address, method.pk)
        for channel in DEFAULT_CHANNELS.get(urgency, DEFAULT_CHANNELS[Urgency.HIGH])
        for method in methods
        if method.channel == channel
    ]
    if not any(item.channel == Channel.EMAIL for item in plan) and user.email:
        plan.insert(0, PlannedDelivery(0, Channel.EMAIL, user.email, None))
    return plan


def delivery_plan(user: User, urgency: str, channels: Sequence[str] = ()) -> list[PlannedDelivery]:
    rules = (
        NotificationRule.objects.filter(
            user=user,
            urgency=urgency,
            contact_method__verified_at__isnull=False,
            contact_method__opted_out_at__isnull=True,
        )
        .select_related("contact_method")
        .order_by("delay_minutes", "id")
    )
    plan = [
        PlannedDelivery(
            rule.delay_minutes,
            rule.contact_method.channel,
            rule.contact_method.address,
            rule.contact_method_id,
        )
        for rule in rules
    ] or _defaults(user, urgency)
    if channels:
        narrowed = [item for item in plan if item.channel in channels]
        plan = narrowed or plan
    unique: dict[tuple[str, str], PlannedDelivery] = {}
    for item in plan:  # one delivery per address: the earliest rule wins
        unique.setdefault((item.channel, item.address), item)
    return list(unique.values())
