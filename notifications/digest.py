"""Pages that ride along in another page's message when a throttle held them.

The first held page to leave (the carrier) takes every other page due to the same address
with it: they are marked SENDING with `carried_by` set in the carrier's claim, and settled
with the carrier's outcome. If the carrier does not go (its incident was acknowledged
meanwhile), they are released to go on their own.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from django.utils import timezone

from notifications.models import DeliveryStatus, Notification, Reason
from notifications.records import close, finish_request, unwanted
from notifications.services import defer_delivery


def riders_gather(carrier: Notification, now: datetime, early: timedelta) -> list[Notification]:
    """Lock and attach the other pages due to the carrier's address (ones another worker is
    claiming right now are skipped: they go their own way)."""
    due = (
        Notification.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("incident__service", "request")
        .filter(
            channel=carrier.channel,
            address=carrier.address,
            status=DeliveryStatus.PENDING,
            reason=Reason.ESCALATION,
            due_at__lte=now + early,
        )
        .exclude(pk=carrier.pk)
        .order_by("due_at", "id")
    )
    riders = []
    for row in due:
        if why := unwanted(row):
            close(row, DeliveryStatus.CANCELLED, why)
        else:
            riders.append(row)
    if riders:
        Notification.objects.filter(pk__in=[row.pk for row in riders]).update(
            status=DeliveryStatus.SENDING, carried_by=carrier, updated_at=now, error=""
        )
    return riders


def riders_of(carrier: Notification) -> list[Notification]:
    return list(
        Notification.objects.filter(carried_by=carrier, status=DeliveryStatus.SENDING)
        .select_related("incident__service", "request")
        .order_by("due_at", "id")
    )


def riders_settle(carrier: Notification, status: DeliveryStatus, error: str = "") -> None:
    """The carrier's outcome is theirs: sent, or failed with its error. (One UPDATE; their
    requests are looked at only when there were riders, which is rare.)"""
    now = timezone.now()
    riders = Notification.objects.filter(carried_by=carrier, status=DeliveryStatus.SENDING)
    if status == DeliveryStatus.SENT:
        error = f"sent inside the message of delivery {carrier.pk}"
        settled = riders.update(status=status, error=error, sent_at=now, updated_at=now)
    else:
        settled = riders.update(status=status, error=error[:2000], updated_at=now)
    if settled:
        for row in Notification.objects.filter(carried_by=carrier).select_related("request"):
            finish_request(row)


def riders_release(carrier: Notification) -> None:
    """The carrier is not going after all: its riders go on their own, now."""
    now = timezone.now()
    for row in riders_of(carrier):
        row.status, row.carried_by, row.due_at, row.updated_at = (
            DeliveryStatus.PENDING,
            None,
            now,
            now,
        )
        row.save(update_fields=["status", "carried_by", "due_at", "updated_at"])
        defer_delivery(row)


def digest_line(carrier: Notification, riders: list[Notification]) -> str:
    """ "and 11 more incidents on Checkout API" (or split by service), "" when none."""
    others = {row.incident_id: row.incident for row in riders if row.incident_id}
    others.pop(carrier.incident_id, None)
    if not others:
        return ""
    count = len(others)
    noun = "incident" if count == 1 else "incidents"
    services = Counter(incident.service.name for incident in others.values())
    if len(services) == 1:
        return f"and {count} more {noun} on {next(iter(services))}"
    parts = ", ".join(f"{name} {n}" for name, n in services.most_common(3))
    rest = "" if len(services) <= 3 else ", …"
    return f"and {count} more {noun} ({parts}{rest})"
