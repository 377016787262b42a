"""Which provider account carries an organization's messages: its own (ProviderAccount, set
in the admin, secrets encrypted at rest) or, without one, the deployment's settings.

Adapters ask here with the organization the message is for; inbound callbacks ask which
auth token signs for the Twilio account that called.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from notifications.models import ProviderAccount, ProviderKind
from opsknight.models import Membership


@dataclass(frozen=True)
class TwilioAccount:
    account_sid: str
    auth_token: str
    from_number: str
    whatsapp_from: str


def _own(organization_id: int | None, kind: ProviderKind) -> ProviderAccount | None:
    if organization_id is None:
        return None
    return ProviderAccount.objects.filter(
        organization_id=organization_id, kind=kind, enabled=True
    ).first()


def twilio_account(organization_id: int | None = None) -> TwilioAccount:
    if own := _own(organization_id, ProviderKind.TWILIO):
        return TwilioAccount(own.account_id, own.secret(), own.sender, own.whatsapp_sender)
    return TwilioAccount(
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        settings.TWILIO_FROM_NUMBER,
        settings.TWILIO_WHATSAPP_FROM,
    )


def twilio_auth_token(account_sid: str) -> str:
    """The token Twilio signs callbacks with for this account: an organization's own, or the
    deployment's ("" when neither). The sid only picks the key; the signature still decides."""
    if account_sid and account_sid != settings.TWILIO_ACCOUNT_SID:
        own = (
            ProviderAccount.objects.filter(
                kind=ProviderKind.TWILIO, account_id=account_sid, enabled=True
            )
            .exclude(secret_encrypted="")
            .first()
        )
        if own is not None:
            return own.secret()
    return settings.TWILIO_AUTH_TOKEN


def slack_token(organization_id: int | None = None) -> str:
    if (own := _own(organization_id, ProviderKind.SLACK)) and own.has_secret:
        return own.secret()
    return settings.SLACK_BOT_TOKEN


def home_organization(user_id: int) -> int | None:
    """A message about no incident (a test, a code) goes through the person's first
    organization's accounts."""
    return (
        Membership.objects.filter(user_id=user_id)
        .order_by("id")
        .values_list("organization_id", flat=True)
        .first()
    )
