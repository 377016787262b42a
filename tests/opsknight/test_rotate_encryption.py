"""Key rotation for secrets at rest: `manage.py rotate_encryption` moves every `*_encrypted`
column to the newest key, so the old key can be dropped; unreadable secrets stop it loudly."""

from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from integrations.models import Integration
from integrations.services import integration_create, routing_key, signing_secret
from opsknight import crypto
from tests.incidents.factories import make_service

pytestmark = pytest.mark.django_db

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


@pytest.fixture
def keys(settings):
    def use(*names: str) -> None:
        settings.ENCRYPTION_KEYS = list(names)
        crypto.clear_cache()

    yield use
    crypto.clear_cache()


@pytest.fixture
def integration(org, keys):
    keys(OLD)
    issued = integration_create(
        service=make_service(org), kind="grafana", name="g", signing_secret="s" * 32
    )
    return Integration.objects.get(pk=issued.integration.pk), issued.key


def rotate(*args: str) -> str:
    out = StringIO()
    call_command("rotate_encryption", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_rotation_moves_every_secret_to_the_new_key(integration, keys):
    row, key = integration
    keys(NEW, OLD)
    output = rotate()
    assert "integrations.Integration: re-encrypted 2 secret(s); 0 unreadable" in output
    keys(NEW)  # the old key is gone: everything still opens
    row.refresh_from_db()
    assert routing_key(row) == key
    assert signing_secret(row) == "s" * 32


def test_without_rotation_dropping_the_old_key_loses_the_secret(integration, keys):
    row, _ = integration
    keys(NEW)
    with pytest.raises(crypto.DecryptionError):
        routing_key(row)


def test_a_dry_run_changes_nothing(integration, keys):
    row, _ = integration
    keys(NEW, OLD)
    before = row.key_encrypted
    assert "would re-encrypt 2 secret(s)" in rotate("--dry-run")
    row.refresh_from_db()
    assert row.key_encrypted == before


def test_a_secret_no_key_opens_is_reported_left_alone_and_fails_the_command(integration, keys):
    row, _ = integration
    foreign = Fernet(Fernet.generate_key()).encrypt(b"x").decode()
    Integration.objects.filter(pk=row.pk).update(signing_secret_encrypted=foreign)
    keys(NEW, OLD)
    with pytest.raises(CommandError, match="1 secret"):
        rotate()
    row.refresh_from_db()
    assert row.signing_secret_encrypted == foreign
    keys(NEW)
    assert routing_key(row)  # the readable one was still rotated
