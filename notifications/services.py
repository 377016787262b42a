"""Writes of the notifications app: accepting requests to reach people."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from incidents.models import Incident
from notifications.models import NotificationRequest, Reason


def notifications_request(
    *,
    incident: Incident,
    user_ids: Sequence[int],
    reason: Reason,
    level: int,
    request_key: str,
    channels: Sequence[str] = (),
) -> list[int]:
    """Record "reach these people about this incident", once per person and `request_key`.

    Call inside the caller's transaction: the request commits with the step that made it or
    not at all. A repeated call with the same key adds nobody twice (the unique constraint,
    and ON CONFLICT DO NOTHING). Returns the people asked for, each once, in order.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("notifications_request must run inside the caller's transaction")
    people = list(dict.fromkeys(user_ids))
    rows = [
        NotificationRequest(
            organization_id=incident.organization_id,
            incident=incident,
            user_id=user_id,
            reason=reason,
            level=level,
            request_key=request_key,
            channels=list(channels),
        )
        for user_id in people
    ]
    NotificationRequest.objects.bulk_create(rows, ignore_conflicts=True)
    return people
