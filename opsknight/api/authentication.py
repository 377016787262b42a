"""DRF authentication by API key: `Authorization: Bearer ok_…` (or `X-API-Key: ok_…`)."""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from opsknight.models import APIKey, Organization
from opsknight.services import API_KEY_PREFIX, api_key_authenticate


class APIKeyPrincipal:
    """The `request.user` of a key-authenticated request: a machine, not a person.

    Permission checks ask `permissions.can(request.auth, ...)`, which uses the key's scopes.
    """

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    def __init__(self, api_key: APIKey) -> None:
        self.api_key = api_key

    @property
    def organization(self) -> Organization:
        return self.api_key.organization

    def __str__(self) -> str:
        return f"API key {self.api_key.prefix}"


class APIKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, APIKey] | None:
        token = _token_from(request)
        if token is None:
            return None
        api_key = api_key_authenticate(token)
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid, revoked or expired API key.")
        return APIKeyPrincipal(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


def _token_from(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header:
        parts = header.split()
        if len(parts) == 2 and parts[0].lower() in ("bearer", "token", "api-key"):
            return parts[1] if parts[1].startswith(API_KEY_PREFIX) else None
        return None
    token = request.headers.get("X-API-Key", "").strip()
    return token or None
