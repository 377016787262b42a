"""Codes that prove a phone number (or an address) belongs to the person who added it.

No code is stored: each send draws a fresh random nonce, and the code is an HMAC of the
method, the nonce and SECRET_KEY. Checking recomputes it, so a database dump reveals nothing
that passes the check. A code lives 15 minutes; five wrong tries void it (a new one must be
sent), so guessing a six-digit code is hopeless.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from notifications.models import ContactMethod

CODE_TTL = timedelta(minutes=15)
MAX_FAILURES = 5
RESEND_AFTER = timedelta(seconds=30)


def verification_code(method: ContactMethod) -> str:
    """The code for the method's current nonce ("" when none was sent)."""
    if not method.verification_nonce:
        return ""
    digest = hmac.new(
        settings.SECRET_KEY.encode(),
        f"verify:{method.pk}:{method.channel}:{method.address}:{method.verification_nonce}".encode(),
        hashlib.sha256,
    ).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 1_000_000:06d}"


def new_nonce(method: ContactMethod) -> None:
    """Start a fresh code (the caller saves the method and sends the code)."""
    method.verification_nonce = secrets.token_hex(16)
    method.verification_sent_at = timezone.now()
    method.verification_failures = 0


def code_matches(method: ContactMethod, code: str) -> bool:
    expected = verification_code(method)
    sent = method.verification_sent_at
    if not expected or sent is None or timezone.now() - sent > CODE_TTL:
        return False
    if method.verification_failures >= MAX_FAILURES:
        return False
    return hmac.compare_digest(expected, "".join(code.split()))
