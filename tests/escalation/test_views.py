"""The escalation section of the incident page: what ran, what comes next, and who may see it."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from escalation.models import EscalationState
from incidents import services
from incidents.models import Incident
from opsknight.actors import Actor
from opsknight.models import Organization, Role, User
from tests.escalation.factories import policy, run_next_step, step
from tests.incidents.factories import make_service, trigger
from tests.oncall.factories import schedule
from tests.opsknight.factories import member

pytestmark = pytest.mark.django_db


def url(incident: Incident) -> str:
    return f"/incidents/{incident.pk}/escalation/"


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def history(text: str) -> list[tuple[str, str]]:
    """(level, people paged) of each row of what already happened."""
    return re.findall(r'<li data-level="(\d*)" data-paged="([^"]*)">', text)


def upcoming(text: str) -> list[tuple[str, str]]:
    """(level, targets) of each page still to come."""
    return re.findall(r'<tr data-level="(\d+)" data-targets="([^"]*)">', text)


@pytest.fixture
def people(org: Organization) -> tuple[User, User]:
    return member(org), member(org)


@pytest.fixture
def incident(org: Organization, people: tuple[User, User]) -> Incident:
    alice, bob = people
    primary = schedule(org, name="Nights")
    service = make_service(org)
    policy(org, [step(alice), step(bob, primary, delay=10)], service=service, name="Primary")
    return trigger(service)


def test_shows_the_page_that_ran_and_those_still_to_come(org, people, incident):
    alice, bob = people
    run_next_step()
    state = EscalationState.objects.get(pk=incident.pk)

    response = logged_in(member(org, Role.RESPONDER)).get(url(incident))

    assert response.status_code == 200
    text = response.content.decode()
    assert "Policy <strong>Primary</strong>" in text
    assert "Escalating" in text
    assert history(text) == [("1", alice.email)]
    assert f"Paged {alice.email}" in text
    assert upcoming(text) == [("2", f"{bob.email}, schedule Nights")]
    assert f'<time datetime="{state.due_at:%Y-%m-%dT%H:%M:%S}' in text


def test_acknowledged_incident_shows_the_stop_and_nothing_to_come(org, people, incident):
    alice, _ = people
    run_next_step()
    services.acknowledge(incident_id=incident.pk, actor=Actor.for_user(alice))

    text = logged_in(alice).get(url(incident)).content.decode()

    assert "Stopped: acknowledged" in text
    assert history(text) == [("1", alice.email)]
    assert upcoming(text) == []


def test_before_any_page_nothing_ran_yet(org, incident):
    text = logged_in(member(org, Role.VIEWER)).get(url(incident)).content.decode()

    assert "Nobody paged yet." in text
    assert [level for level, _ in upcoming(text)] == ["1", "2"]


def test_service_without_policy_says_so(org):
    incident = trigger(make_service(org))

    text = logged_in(member(org, Role.VIEWER)).get(url(incident)).content.decode()

    assert "Not escalating: no policy" in text
    assert "Nobody paged yet." in text


def test_viewer_may_see_it(org, incident):
    assert logged_in(member(org, Role.VIEWER)).get(url(incident)).status_code == 200


def test_another_organizations_incident_is_404(incident, other_org):
    assert logged_in(member(other_org, Role.OWNER)).get(url(incident)).status_code == 404


def test_unknown_incident_is_404(org, incident):
    response = logged_in(member(org)).get(f"/incidents/{incident.pk + 1000}/escalation/")
    assert response.status_code == 404


def test_anonymous_is_sent_to_log_in(incident):
    response = Client().get(url(incident))

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_incident_page_loads_the_section_with_htmx(org, incident):
    text = logged_in(member(org)).get(f"/incidents/{incident.pk}/").content.decode()

    assert f'hx-get="/incidents/{incident.pk}/escalation/"' in text
    assert 'hx-trigger="load"' in text
    assert "/static/django_htmx/htmx-2.min.js" in text
