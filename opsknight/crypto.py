"""Encryption at rest for secrets we must read back (signing secrets, provider tokens).

Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`. ENCRYPTION_KEYS lists Fernet keys,
newest first: the first encrypts, all decrypt, so keys rotate without downtime
(`manage.py rotate_encryption` re-encrypts every stored secret with the newest key, after
which the old key can be dropped). Unset, one key is derived from SECRET_KEY.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
from django.conf import settings
from django.db import models


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


def rotate(token: str) -> str:
    """The same secret, encrypted with the newest key (whichever key it was under)."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError(
            "cannot decrypt a stored secret with any key in ENCRYPTION_KEYS"
        ) from exc


def encrypted_fields() -> list[tuple[type[models.Model], list[str]]]:
    """Every model's encrypted columns: by convention, the text fields named `*_encrypted`."""
    found = []
    for model in apps.get_models():
        names = [
            field.name
            for field in model._meta.get_fields()
            if isinstance(field, models.TextField) and field.name.endswith("_encrypted")
        ]
        if names:
            found.append((model, names))
    return found


class EncryptedSecret:
    """For a model with a `secret_encrypted` text column: the secret is set in plain text,
    stored encrypted, and read back only by the code that sends with it."""

    secret_encrypted: str

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_encrypted)

    def set_secret(self, plaintext: str) -> None:
        self.secret_encrypted = encrypt(plaintext) if plaintext else ""

    def secret(self) -> str:
        """The decrypted secret ("" if none). Raises DecryptionError if the keys changed."""
        return decrypt(self.secret_encrypted) if self.secret_encrypted else ""


def clear_cache() -> None:
    _fernet.cache_clear()
