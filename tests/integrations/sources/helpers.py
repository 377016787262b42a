"""Shared by the per-provider tests: post a body to the generic endpoint like the provider does."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from django.test import Client

from incidents.models import Service
from integrations.services import IssuedIntegration, integration_create


def connect(service: Service, kind: str, **options: Any) -> IssuedIntegration:
    """An integration of `kind` on `service` (with options, e.g. a generic webhook's mapping)."""
    return integration_create(service=service, kind=kind, name=kind, options=options or None)


def post(
    client: Client,
    kind: str,
    key: str,
    body: Any,
    *,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
    content_type: str = "application/json",
):
    """POST to /api/v1/integrations/<kind>/<key>/ as the provider would."""
    data = raw if raw is not None else json.dumps(body).encode()
    return client.post(
        f"/api/v1/integrations/{kind}/{key}/",
        data=data,
        content_type=content_type,
        headers=headers or {},
    )


def hmac_hex(secret: str, body: bytes, digest: str = "sha256") -> str:
    return hmac.new(secret.encode(), body, getattr(hashlib, digest)).hexdigest()
