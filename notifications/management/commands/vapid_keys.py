"""Generate a VAPID key pair for web push and print the settings that use it.

Run once per installation and keep the private key secret: browsers subscribe with the public
key, and a new pair invalidates every existing subscription.
"""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.core.management.base import BaseCommand
from py_vapid import Vapid02


def generate() -> tuple[str, str]:
    """(private key as base64url raw bytes, public key as base64url uncompressed point)."""
    vapid = Vapid02()
    vapid.generate_keys()
    private = base64.urlsafe_b64encode(
        vapid.private_key.private_numbers().private_value.to_bytes(32, "big")
    )
    public = vapid.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return (
        private.decode().rstrip("="),
        base64.urlsafe_b64encode(public).decode().rstrip("="),
    )


class Command(BaseCommand):
    help = "Print a new VAPID key pair for web push, as environment settings."

    def handle(self, *args: Any, **options: Any) -> None:
        private, public = generate()
        self.stdout.write(f"VAPID_PRIVATE_KEY={private}\nVAPID_PUBLIC_KEY={public}\n")
