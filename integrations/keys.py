"""Routing keys: how they are made and how they are found again."""

from __future__ import annotations

import hashlib
import secrets


def hash_key(key: str) -> str:
    """Keys have 128 bits of entropy: a plain SHA-256 cannot be reversed, and finds the row."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_routing_key() -> str:
    """32 hex characters: the shape of a PagerDuty routing key, 128 bits of entropy."""
    return secrets.token_hex(16)
