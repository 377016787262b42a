from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.utils import DatabaseError

from opsknight.models import AuditEvent, User
from opsknight.services import audit_record
from tests.opsknight.factories import UserFactory


def test_emails_are_stored_lower_case_and_unique_regardless_of_case(db):
    User.objects.create_user("Alice@Example.COM", "x" * 12)
    assert User.objects.filter(email="alice@example.com").exists()
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(email="ALICE@example.com")


def test_user_rejects_unknown_time_zone_and_non_e164_phone(db):
    user = UserFactory.build(time_zone="Mars/Olympus", phone="0151 1234")
    with pytest.raises(ValidationError) as exc:
        user.full_clean()
    assert set(exc.value.message_dict) == {"time_zone", "phone"}


def test_audit_events_are_append_only_in_the_database(org):
    event = audit_record(action="test.done", organization=org, data={"n": 1})
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="test.rewritten")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    # Raw SQL is refused too: the rule is the database's, not the ORM's.
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM opsknight_auditevent")
    event.refresh_from_db()
    assert event.action == "test.done"


def test_audited_user_cannot_be_deleted_only_deactivated(org):
    user = UserFactory()
    audit_record(action="test.done", organization=org, actor=user)
    with pytest.raises(IntegrityError), transaction.atomic():
        user.delete()
