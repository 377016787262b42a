"""One-click acknowledge links in pages: signed, bound to one delivery (so to one person and one
incident), expiring, and good once.

The token is Django's TimestampSigner over the delivery's id, person and incident, with its own
salt; nothing secret is stored. Opening the link shows a button; only the POST acknowledges, so
mail scanners that fetch every link acknowledge nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone

from notifications.models import Notification

SALT = "opsknight.notifications.ack-link"
MAX_AGE = timedelta(hours=24)


class AckLinkError(Exception):
    """Why a link cannot be used: `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class AckLink:
    notification: Notification


def ack_token(notification: Notification) -> str:
    payload = {"n": notification.pk, "u": notification.user_id, "i": notification.incident_id}
    return signing.TimestampSigner(salt=SALT).sign_object(payload)


def ack_url(notification: Notification) -> str:
    return f"{settings.BASE_URL}/notifications/ack/{ack_token(notification)}/"


def read_ack_token(token: str) -> Notification:
    """The delivery a valid, unexpired, unused link belongs to; AckLinkError otherwise."""
    try:
        payload = signing.TimestampSigner(salt=SALT).unsign_object(
            token, max_age=MAX_AGE.total_seconds()
        )
    except signing.SignatureExpired as exc:
        raise AckLinkError("This link has expired; open the incident instead.", 410) from exc
    except signing.BadSignature as exc:
        raise AckLinkError("This link is not valid.", 404) from exc
    notification = (
        Notification.objects.select_related("incident", "user")
        .filter(pk=payload.get("n"), user_id=payload.get("u"), incident_id=payload.get("i"))
        .first()
    )
    if notification is None:
        raise AckLinkError("This link is not valid.", 404)
    if notification.ack_link_used_at is not None:
        raise AckLinkError("This link was already used.", 410)
    return notification


def use_ack_link(token: str) -> Notification:
    """Mark the link used, under a row lock so two clicks cannot both act. Call inside the
    transaction that acknowledges, so an acknowledge that fails leaves the link usable."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("use_ack_link must run inside the acknowledging transaction")
    notification = read_ack_token(token)
    locked = Notification.objects.select_for_update().get(pk=notification.pk)
    if locked.ack_link_used_at is not None:
        raise AckLinkError("This link was already used.", 410)
    locked.ack_link_used_at = timezone.now()
    locked.save(update_fields=["ack_link_used_at"])
    return notification
