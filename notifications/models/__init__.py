"""Notification data: requests to reach people, how they can be reached, and what was sent."""

from notifications.models.accounts import ProviderAccount, ProviderKind
from notifications.models.contacts import ContactMethod, NotificationRule
from notifications.models.deliveries import (
    FINISHED,
    DeliveryAttempt,
    DeliveryStatus,
    Notification,
)
from notifications.models.outbound import (
    OutboundDelivery,
    OutboundDestination,
    OutboundEvent,
    OutboundKind,
    OutboundStatus,
)
from notifications.models.requests import Channel, NotificationRequest, Reason, RequestStatus

__all__ = [
    "FINISHED",
    "Channel",
    "ContactMethod",
    "DeliveryAttempt",
    "DeliveryStatus",
    "Notification",
    "NotificationRequest",
    "NotificationRule",
    "OutboundDelivery",
    "OutboundDestination",
    "OutboundEvent",
    "OutboundKind",
    "OutboundStatus",
    "ProviderAccount",
    "ProviderKind",
    "Reason",
    "RequestStatus",
]
