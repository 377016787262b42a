"""Web push (RFC 8030/8291, VAPID) through pywebpush. Endpoints come from browsers, so hosts
resolving to private or loopback addresses are refused unless PUSH_ALLOW_PRIVATE_ADDRESSES (as
for calendar imports); the check resolves the name before the request, so a rebinding DNS
server could still race it, a limit noted in the README."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from pywebpush import WebPushException, webpush

from notifications.providers.base import ProviderError, PushMessage, SendResult

# The subscription is gone (the browser unsubscribed, or the service forgot it): final.
_GONE = {404, 410}


def _private(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False  # let the request fail (and be retried) as unreachable
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address.is_private or address.is_loopback or address.is_link_local:
            return True
    return False


class WebPushProvider:
    @classmethod
    def is_configured(cls, organization_id: int | None = None) -> bool:
        return bool(settings.VAPID_PRIVATE_KEY)

    def send_push(self, message: PushMessage) -> SendResult:
        parts = urlsplit(message.endpoint)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ProviderError("not a push endpoint URL", permanent=True)
        if not settings.PUSH_ALLOW_PRIVATE_ADDRESSES and (
            parts.scheme != "https" or _private(parts.hostname)
        ):
            raise ProviderError("push endpoint refused: not a public https address", permanent=True)
        try:
            response = webpush(
                subscription_info={
                    "endpoint": message.endpoint,
                    "keys": {"p256dh": message.p256dh, "auth": message.auth},
                },
                data=message.payload,
                vapid_private_key=settings.VAPID_PRIVATE_KEY,
                vapid_claims={"sub": settings.VAPID_SUBJECT},
                timeout=10,
                ttl=message.ttl_seconds,
            )
        except WebPushException as exc:
            status = exc.response.status_code if exc.response is not None else None
            raise ProviderError(
                f"push service refused ({status}): {exc.message}", permanent=status in _GONE
            ) from exc
        except OSError as exc:
            raise ProviderError(f"push service unavailable: {exc}") from exc
        return SendResult(provider_message_id=response.headers.get("Location", ""))
