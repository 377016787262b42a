"""Encryption at rest for secrets we must read back (signing secrets, provider tokens).

Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`. ENCRYPTION_KEYS lists Fernet keys,
newest first: the first encrypts, all decrypt, so keys rotate without downtime
(`manage.py rotate_encryption` re-encrypts later). Unset, one key is derived from SECRET_KEY.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class DecryptionError(ValueError):
    pass


@cache
def _fernet() -> MultiFernet:
    keys = list(settings.ENCRYPTION_KEYS)
    if not keys:
        derived = hashlib.sha256(b"opsknight-encryption:" + settings.SECRET_KEY.encode()).digest()
        keys = [base64.urlsafe_b64encode(derived).decode()]
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError(
            "cannot decrypt a stored secret: ENCRYPTION_KEYS (or SECRET_KEY) changed"
        ) from exc


def clear_cache() -> None:
    _fernet.cache_clear()
