"""Who did something: a person, an API key, an integration, or the system itself."""

from __future__ import annotations

from dataclasses import dataclass

from opsknight.models import APIKey, User


@dataclass(frozen=True)
class Actor:
    user: User | None
    label: str

    @classmethod
    def for_user(cls, user: User) -> Actor:
        return cls(user=user, label=user.email)

    @classmethod
    def for_api_key(cls, api_key: APIKey) -> Actor:
        return cls(user=None, label=f"API key {api_key.name} ({api_key.prefix})")

    @classmethod
    def for_integration(cls, name: str) -> Actor:
        return cls(user=None, label=f"integration {name}")

    @classmethod
    def system(cls, why: str = "") -> Actor:
        return cls(user=None, label=f"system{': ' + why if why else ''}")

    @property
    def user_id(self) -> int | None:
        return self.user.pk if self.user is not None else None
