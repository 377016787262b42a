"""What every adapter takes and returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class EmailMessage:
    to: str
    subject: str
    text: str
    html: str
    message_id: str  # stable per delivery record: a resend would carry the same id
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str


class ProviderError(Exception):
    """The provider refused or could not be reached. `permanent`: retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class EmailProvider(Protocol):
    @classmethod
    def is_configured(cls, organization_id: int | None = None) -> bool:
        """Whether it has what it needs (for this organization, when accounts are per
        organization); an unconfigured channel's pages fail at once."""
        ...

    def send_email(self, message: EmailMessage) -> SendResult:
        """Hand one message to the mail system; raise ProviderError when it does not take it."""
        ...


@dataclass(frozen=True)
class SmsMessage:
    to: str  # E.164
    body: str
    status_callback: str = ""  # where the provider reports delivery (empty: nowhere)
    organization_id: int | None = None  # whose provider account carries it (None: settings)


class SmsProvider(Protocol):
    @classmethod
    def is_configured(cls, organization_id: int | None = None) -> bool: ...

    def send_sms(self, message: SmsMessage) -> SendResult:
        """Hand one text message to the carrier gateway; raise ProviderError if refused."""
        ...


@dataclass(frozen=True)
class ChatMessage:
    to: str  # a Slack user id (a DM) or channel id
    text: str  # the notification text (also what screen readers and previews show)
    blocks: tuple[dict, ...] = ()
    organization_id: int | None = None  # whose workspace token carries it (None: settings)


class ChatProvider(Protocol):
    @classmethod
    def is_configured(cls, organization_id: int | None = None) -> bool: ...

    def send_chat(self, message: ChatMessage) -> SendResult:
        """Post one message; raise ProviderError when the workspace refuses it."""
        ...


@dataclass(frozen=True)
class PushMessage:
    endpoint: str
    p256dh: str  # the subscription's public key (base64url)
    auth: str  # its auth secret (base64url)
    payload: str  # JSON the service worker reads
    ttl_seconds: int = 3600


class PushProvider(Protocol):
    @classmethod
    def is_configured(cls, organization_id: int | None = None) -> bool: ...

    def send_push(self, message: PushMessage) -> SendResult:
        """Encrypt and post one push message; raise ProviderError when the service refuses."""
        ...


@dataclass(frozen=True)
class VoiceMessage:
    to: str  # E.164
    speech: str  # read by text-to-speech when the call is answered
    # Where keypresses go (the acknowledge / escalate / resolve menu); empty: no menu.
    gather_url: str = ""
    status_callback: str = ""  # where the provider reports how the call ended
    organization_id: int | None = None  # whose provider account carries it (None: settings)


class VoiceProvider(Protocol):
    @classmethod
    def is_configured(cls, organization_id: int | None = None) -> bool: ...

    def send_call(self, message: VoiceMessage) -> SendResult:
        """Place one call; raise ProviderError when the provider refuses it."""
        ...
