"""Root fixtures: kept small; per-app fixtures live beside their tests."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.opsknight.factories import OrganizationFactory


@pytest.fixture
def org(db):
    return OrganizationFactory()


@pytest.fixture
def other_org(db):
    return OrganizationFactory()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()
