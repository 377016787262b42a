"""Root fixtures: kept small; per-app fixtures live beside their tests."""

from __future__ import annotations

import pytest
from django.conf import global_settings
from rest_framework.test import APIClient

from integrations.selectors import forget_cached_keys
from tests.opsknight.factories import OrganizationFactory


@pytest.fixture(autouse=True)
def _fresh_key_cache():
    """Tests change integrations behind the services' back; never serve them a cached key."""
    forget_cached_keys()
    yield
    forget_cached_keys()


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """PBKDF2 at production strength costs about a second per test user on a 2-core machine.

    No test depends on the hasher's strength; subprocess tests (runall, seed_demo) keep the real
    one because they read settings afresh.
    """
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",  # new hashes: fast
        *global_settings.PASSWORD_HASHERS,  # still verifies what subprocesses hashed
    ]


@pytest.fixture
def org(db):
    return OrganizationFactory()


@pytest.fixture
def other_org(db):
    return OrganizationFactory()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()
