from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from incidents import services
from incidents.ingestion import NormalizedEvent, ingest
from incidents.models import Incident, Service
from incidents.selectors import (
    alert_count,
    incident_alerts,
    incident_for_user,
    incident_timeline,
    incidents_for_user,
    open_incident_counts,
)
from opsknight.actors import Actor
from opsknight.models import Organization, Role
from tests.opsknight.factories import UserFactory, member

pytestmark = pytest.mark.django_db


def trigger(service: Service, key: str, payload: dict | None = None) -> Incident:
    result = ingest(
        service=service,
        event=NormalizedEvent(action="trigger", dedup_key=key, summary=f"{key} is down"),
        payload=payload or {},
    )
    assert result.incident is not None
    return Incident.objects.get(pk=result.incident.pk)


@pytest.fixture
def service(org: Organization) -> Service:
    return services.service_create(organization=org, name="api")


@pytest.fixture
def other_service(other_org: Organization) -> Service:
    return services.service_create(organization=other_org, name="api")


def test_user_sees_only_incidents_of_their_organizations(org, service, other_service):
    user = member(org, Role.VIEWER)
    mine = trigger(service, "mine")
    trigger(other_service, "theirs")
    assert list(incidents_for_user(user)) == [mine]


def test_user_of_both_organizations_sees_both_and_may_narrow_to_one(
    org, other_org, service, other_service
):
    user = member(org, Role.VIEWER)
    other_org.memberships.create(user=user, role=Role.RESPONDER)
    first = trigger(service, "a")
    second = trigger(other_service, "b")
    assert list(incidents_for_user(user)) == [second, first]
    assert list(incidents_for_user(user, organization=org)) == [first]
    assert list(incidents_for_user(user, organization=other_org.pk)) == [second]


def test_organization_filter_never_widens_past_membership(org, other_org, service, other_service):
    user = member(org, Role.OWNER)
    trigger(other_service, "theirs")
    assert list(incidents_for_user(user, organization=other_org)) == []


def test_superuser_sees_every_organization(service, other_service):
    operator = UserFactory(is_superuser=True, is_staff=True)
    first = trigger(service, "a")
    second = trigger(other_service, "b")
    assert list(incidents_for_user(operator)) == [second, first]


def test_anonymous_and_inactive_users_see_nothing(org, service):
    trigger(service, "a")
    inactive = member(org, Role.OWNER, is_active=False)
    assert list(incidents_for_user(AnonymousUser())) == []
    assert list(incidents_for_user(inactive)) == []


def test_incidents_of_a_deactivated_organization_are_hidden(org, service):
    user = member(org, Role.OWNER)
    trigger(service, "a")
    org.is_active = False
    org.save()
    assert list(incidents_for_user(user)) == []


def test_open_incidents_come_first_then_newest_first(org, service):
    user = member(org, Role.VIEWER)
    oldest = trigger(service, "oldest")
    middle = trigger(service, "middle")
    newest = trigger(service, "newest")
    services.resolve(incident_id=newest.pk, actor=Actor.system())
    assert list(incidents_for_user(user)) == [middle, oldest, newest]


def test_status_filter(org, service):
    user = member(org, Role.VIEWER)
    triggered = trigger(service, "t")
    acked = trigger(service, "a")
    resolved = trigger(service, "r")
    services.acknowledge(incident_id=acked.pk, actor=Actor.system())
    services.resolve(incident_id=resolved.pk, actor=Actor.system())
    assert list(incidents_for_user(user, status="triggered")) == [triggered]
    assert list(incidents_for_user(user, status="acknowledged")) == [acked]
    assert list(incidents_for_user(user, status="resolved")) == [resolved]
    assert list(incidents_for_user(user, status="open")) == [acked, triggered]
    assert list(incidents_for_user(user, status="snoozed")) == []


def test_alert_count_is_annotated_and_counted(org, service):
    user = member(org, Role.VIEWER)
    noisy = trigger(service, "noisy")
    trigger(service, "noisy")  # deduplicated onto the same incident
    trigger(service, "noisy")
    quiet = trigger(service, "quiet")
    counts = {incident.pk: incident.alert_count for incident in incidents_for_user(user)}
    assert counts == {noisy.pk: 3, quiet.pk: 1}
    assert alert_count(noisy) == 3
    assert alert_count(quiet) == 1


def test_incident_for_user_hides_other_tenants_incidents(org, service, other_service):
    user = member(org, Role.VIEWER)
    mine = trigger(service, "mine")
    theirs = trigger(other_service, "theirs")
    assert incident_for_user(user, mine.pk) == mine
    with pytest.raises(Http404):
        incident_for_user(user, theirs.pk)
    with pytest.raises(Http404):
        incident_for_user(user, theirs.pk + 1000)


def test_timeline_is_oldest_first_with_actors(org, service):
    user = member(org, Role.RESPONDER)
    incident = trigger(service, "a")
    services.acknowledge(incident_id=incident.pk, actor=Actor.for_user(user))
    services.add_note(incident_id=incident.pk, actor=Actor.for_user(user), body="looking")
    rows = [(event.kind, event.actor, event.message) for event in incident_timeline(incident)]
    assert rows == [
        ("triggered", None, "a is down"),
        ("acknowledged", user, ""),
        ("note", user, "looking"),
    ]


def test_incident_alerts_are_newest_first_and_limited(org, service):
    incident = trigger(service, "k", payload={"n": 0})
    for n in range(1, 5):
        trigger(service, "k", payload={"n": n})
    assert [alert.payload["n"] for alert in incident_alerts(incident, limit=3)] == [4, 3, 2]
    assert len(incident_alerts(incident)) == 5


def test_open_incident_counts_per_status_with_zeros(org, service, other_service):
    acked = trigger(service, "a")
    trigger(service, "b")
    trigger(service, "c")
    resolved = trigger(service, "d")
    trigger(other_service, "elsewhere")
    services.acknowledge(incident_id=acked.pk, actor=Actor.system())
    services.resolve(incident_id=resolved.pk, actor=Actor.system())
    assert open_incident_counts(org) == {
        "triggered": 2,
        "acknowledged": 1,
        "snoozed": 0,
        "suppressed": 0,
    }
    assert open_incident_counts(org.pk) == open_incident_counts(org)
