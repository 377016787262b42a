from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.html import escape

from incidents import services
from incidents.ingestion import NormalizedEvent, ingest
from incidents.models import Incident, IncidentEvent, Note, Service
from opsknight.actors import Actor
from opsknight.models import Organization, Role, User
from tests.opsknight.factories import UserFactory, member

pytestmark = pytest.mark.django_db

ACTIONS = [
    ("acknowledge", {}),
    ("snooze", {"minutes": "60"}),
    ("resolve", {"note": ""}),
    ("reopen", {}),
    ("notes", {"body": "hello"}),
]


def trigger(service: Service, key: str, payload: dict | None = None) -> Incident:
    result = ingest(
        service=service,
        event=NormalizedEvent(action="trigger", dedup_key=key, summary=f"{key} is down"),
        payload=payload or {},
    )
    assert result.incident is not None
    return Incident.objects.get(pk=result.incident.pk)


def url(incident: Incident, action: str = "") -> str:
    return f"/incidents/{incident.pk}/{action + '/' if action else ''}"


def logged_in(user: User, **kwargs: object) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def timeline(incident: Incident) -> list[str]:
    return list(
        IncidentEvent.objects.filter(incident=incident)
        .order_by("created_at", "pk")
        .values_list("kind", flat=True)
    )


@pytest.fixture
def service(org: Organization) -> Service:
    return services.service_create(organization=org, name="api")


@pytest.fixture
def responder(org: Organization) -> User:
    return member(org, Role.RESPONDER)


@pytest.fixture
def client(responder: User) -> Client:
    return logged_in(responder)


@pytest.fixture
def incident(service: Service) -> Incident:
    return trigger(service, "db-down", payload={"check": "db", "value": 97})


# --- list ------------------------------------------------------------------------------------


def test_list_shows_only_the_users_organizations(client, incident, other_org):
    theirs = trigger(services.service_create(organization=other_org, name="secret"), "x")
    response = client.get("/incidents/")
    assert response.status_code == 200
    assert list(response.context["page_obj"]) == [incident]
    body = response.content.decode()
    assert "db-down is down" in body
    assert "x is down" not in body
    assert url(theirs) not in body
    assert client.get(url(theirs)).status_code == 404


def test_list_columns_and_navigation(client, incident, service):
    trigger(service, "db-down")  # a second alert on the same incident
    body = client.get("/incidents/").content.decode()
    assert f'href="{url(incident)}">#{incident.number}</a>' in body
    assert '<td class="num">2</td>' in body
    assert 'href="/">Home</a>' in body
    assert "Triggered" in body
    assert "High" in body


def test_list_filters_by_status(client, org, service, responder):
    triggered = trigger(service, "t")
    acked = trigger(service, "a")
    resolved = trigger(service, "r")
    services.acknowledge(incident_id=acked.pk, actor=Actor.for_user(responder))
    services.resolve(incident_id=resolved.pk, actor=Actor.for_user(responder))

    def listed(query: str) -> list[Incident]:
        return list(client.get(f"/incidents/{query}").context["page_obj"])

    assert listed("") == [acked, triggered, resolved]  # open first, then newest first
    assert listed("?status=triggered") == [triggered]
    assert listed("?status=acknowledged") == [acked]
    assert listed("?status=resolved") == [resolved]
    assert listed("?status=open") == [acked, triggered]
    assert listed("?status=bogus") == [acked, triggered, resolved]
    body = client.get(f"/incidents/?status=resolved&organization={org.pk}").content.decode()
    assert f'<a href="/incidents/?organization={org.pk}">All</a>' in body
    assert '<a href="/incidents/?status=resolved">All organizations</a>' in body


def test_list_narrows_to_one_organization_and_ignores_nonsense(client, org, incident, other_org):
    def listed(query: str) -> list[Incident]:
        return list(client.get(f"/incidents/{query}").context["page_obj"])

    assert listed(f"?organization={org.pk}") == [incident]
    assert listed(f"?organization={other_org.pk}") == []
    assert listed("?organization=abc") == [incident]
    assert listed("?organization=99999999999999999999999") == []
    assert listed("?page=banana") == [incident]


def test_list_paginates_by_50(client, service):
    for n in range(51):
        trigger(service, f"k{n}")
    first = client.get("/incidents/?status=open")
    assert len(first.context["page_obj"]) == 50
    assert "?status=open&amp;page=2" in first.content.decode()
    second = client.get("/incidents/?status=open&page=2")
    assert [i.title for i in second.context["page_obj"]] == ["k0 is down"]


def test_list_queries_are_bounded_whatever_the_number_of_incidents(
    client, service, django_assert_max_num_queries
):
    for n in range(3):
        trigger(service, f"few{n}")
    with django_assert_max_num_queries(6):
        assert client.get("/incidents/").status_code == 200
    for n in range(40):
        trigger(service, f"many{n}")
        trigger(service, f"many{n}")
    with django_assert_max_num_queries(6):
        response = client.get("/incidents/")
    assert len(response.context["page_obj"]) == 43


# --- detail ----------------------------------------------------------------------------------


def test_detail_shows_header_actions_timeline_and_escaped_payload(client, service):
    incident = trigger(service, "k", payload={"msg": "<script>alert(1)</script>", "n": 1})
    response = client.get(url(incident))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Triggered" in body
    assert "High urgency" in body
    for action in ("acknowledge", "snooze", "resolve", "notes"):
        assert f'action="{url(incident, action)}"' in body
    assert f'action="{url(incident, "reopen")}"' not in body
    assert "<details><summary>Raw payload</summary>" in body
    pretty = '{\n  "msg": "<script>alert(1)</script>",\n  "n": 1\n}'
    assert f'<pre class="payload">{escape(pretty)}</pre>' in body
    assert "<script>alert(1)" not in body
    assert "k is down" in body  # the triggered timeline row


def test_detail_of_a_resolved_incident_offers_reopen_only(client, incident):
    services.resolve(incident_id=incident.pk, actor=Actor.system())
    body = client.get(url(incident)).content.decode()
    assert f'action="{url(incident, "reopen")}"' in body
    assert f'action="{url(incident, "acknowledge")}"' not in body


def test_detail_of_a_missing_incident_is_404(client):
    assert client.get("/incidents/999999/").status_code == 404
    assert client.get("/incidents/99999999999999999999999/").status_code == 404


# --- actions ---------------------------------------------------------------------------------


def test_acknowledge(client, incident, responder):
    response = client.post(url(incident, "acknowledge"), follow=True)
    assert response.redirect_chain == [(url(incident), 302)]
    assert messages_of(response) == [f"Incident #{incident.number} acknowledged."]
    incident.refresh_from_db()
    assert incident.status == "acknowledged"
    assert incident.acknowledged_by == responder
    assert timeline(incident) == ["triggered", "acknowledged"]
    assert IncidentEvent.objects.get(kind="acknowledged").actor == responder


def test_acknowledging_twice_says_so_and_writes_one_row(client, incident, responder):
    services.acknowledge(incident_id=incident.pk, actor=Actor.for_user(responder))
    response = client.post(url(incident, "acknowledge"), follow=True)
    assert messages_of(response) == [f"Incident #{incident.number} is already acknowledged."]
    assert timeline(incident) == ["triggered", "acknowledged"]


def test_snooze_for_four_hours(client, incident):
    earliest = timezone.now() + timedelta(hours=4)
    response = client.post(url(incident, "snooze"), {"minutes": "240"}, follow=True)
    assert messages_of(response) == [f"Incident #{incident.number} snoozed for 4 hours."]
    incident.refresh_from_db()
    assert incident.status == "snoozed"
    assert earliest <= incident.snoozed_until <= timezone.now() + timedelta(hours=4)
    assert timeline(incident) == ["triggered", "snoozed"]
    assert IncidentEvent.objects.get(kind="snoozed").data["minutes"] == 240
    assert "for 240 minutes" in response.content.decode()


def test_snooze_refuses_a_duration_not_offered(client, incident):
    response = client.post(url(incident, "snooze"), {"minutes": "99999"}, follow=True)
    assert response.status_code == 200
    assert len(messages_of(response)) == 1
    assert "not one of the available choices" in messages_of(response)[0]
    incident.refresh_from_db()
    assert incident.status == "triggered"
    assert timeline(incident) == ["triggered"]


def test_resolve_with_a_note(client, incident, responder):
    response = client.post(url(incident, "resolve"), {"note": "  restarted the db  "}, follow=True)
    assert messages_of(response) == [f"Incident #{incident.number} resolved."]
    incident.refresh_from_db()
    assert incident.status == "resolved"
    assert incident.resolved_by == responder
    assert timeline(incident) == ["triggered", "resolved"]
    assert IncidentEvent.objects.get(kind="resolved").message == "restarted the db"
    assert list(Note.objects.values_list("body", "author")) == [("restarted the db", responder.pk)]


def test_resolve_without_a_note(client, incident):
    client.post(url(incident, "resolve"), {"note": ""})
    incident.refresh_from_db()
    assert incident.status == "resolved"
    assert not Note.objects.exists()


def test_reopen(client, incident):
    services.resolve(incident_id=incident.pk, actor=Actor.system())
    response = client.post(url(incident, "reopen"), follow=True)
    assert messages_of(response) == [f"Incident #{incident.number} reopened."]
    incident.refresh_from_db()
    assert incident.status == "triggered"
    assert incident.resolved_at is None
    assert timeline(incident) == ["triggered", "resolved", "reopened"]


def test_reopen_refused_while_the_same_key_is_open_again(client, incident, service):
    services.resolve(incident_id=incident.pk, actor=Actor.system())
    newer = trigger(service, "db-down")
    response = client.post(url(incident, "reopen"), follow=True)
    assert response.status_code == 200
    assert messages_of(response) == [
        f"Incident #{incident.number} cannot be reopened: #{newer.number} is open "
        "with the same dedup key."
    ]
    incident.refresh_from_db()
    assert incident.status == "resolved"


def test_add_note(client, incident, responder):
    response = client.post(url(incident, "notes"), {"body": "checking replicas"}, follow=True)
    assert messages_of(response) == ["Note added."]
    assert list(Note.objects.values_list("body", "author")) == [("checking replicas", responder.pk)]
    assert timeline(incident) == ["triggered", "note"]
    assert "checking replicas" in response.content.decode()


def test_empty_note_is_refused(client, incident):
    response = client.post(url(incident, "notes"), {"body": "   "}, follow=True)
    assert messages_of(response) == ["This field is required."]
    assert not Note.objects.exists()
    assert timeline(incident) == ["triggered"]


def test_illegal_transition_shows_the_service_message_and_changes_nothing(client, incident):
    services.resolve(incident_id=incident.pk, actor=Actor.system())
    incident.refresh_from_db()
    before = (incident.status, incident.updated_at, timeline(incident))
    response = client.post(url(incident, "acknowledge"), follow=True)
    assert response.status_code == 200
    assert messages_of(response) == [
        f"Incident #{incident.number} is resolved; it cannot be acknowledged."
    ]
    assert "it cannot be acknowledged." in response.content.decode()
    incident.refresh_from_db()
    assert (incident.status, incident.updated_at, timeline(incident)) == before


def test_actions_on_another_tenants_incident_are_404_and_change_nothing(client, other_org):
    theirs = trigger(services.service_create(organization=other_org, name="secret"), "x")
    for action, data in ACTIONS:
        assert client.post(url(theirs, action), data).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "triggered"
    assert timeline(theirs) == ["triggered"]


def test_action_endpoints_refuse_get(client, incident):
    for action, _ in ACTIONS:
        assert client.get(url(incident, action)).status_code == 405


# --- who may ---------------------------------------------------------------------------------


def test_viewer_sees_no_action_buttons(org, incident):
    body = logged_in(member(org, Role.VIEWER)).get(url(incident)).content.decode()
    assert "db-down is down" in body
    assert 'method="post" action="/incidents/' not in body
    assert "Acknowledge</button>" not in body


@pytest.mark.parametrize(("action", "data"), ACTIONS)
def test_viewer_gets_403_on_every_action(org, incident, action, data):
    if action == "reopen":
        services.resolve(incident_id=incident.pk, actor=Actor.system())
    viewer = logged_in(member(org, Role.VIEWER))
    before = timeline(incident)
    assert viewer.post(url(incident, action), data).status_code == 403
    assert timeline(incident) == before
    assert not Note.objects.exists()


@pytest.mark.parametrize(
    "path", ["/incidents/", "/incidents/1/", "/incidents/1/acknowledge/", "/incidents/1/notes/"]
)
def test_anonymous_is_redirected_to_login(path):
    for response in (Client().get(path), Client().post(path)):
        assert response.status_code == 302
        assert response["Location"] == f"/accounts/login/?next={path}"


def test_actions_enforce_csrf(responder, incident):
    client = logged_in(responder, enforce_csrf_checks=True)
    for action, data in ACTIONS:
        assert client.post(url(incident, action), data).status_code == 403
    assert timeline(incident) == ["triggered"]
    client.get(url(incident))  # sets the CSRF cookie, as the page's forms carry the token
    token = client.cookies["csrftoken"].value
    response = client.post(url(incident, "acknowledge"), {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert timeline(incident) == ["triggered", "acknowledged"]


# --- admin -----------------------------------------------------------------------------------


def test_incident_admin_is_read_only(incident):
    operator = logged_in(UserFactory(is_staff=True, is_superuser=True))
    base = "/admin/incidents/incident/"
    assert operator.get(base).status_code == 200
    page = operator.get(f"{base}{incident.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "db-down is down" in body
    assert "Save" not in body
    assert operator.get(f"{base}add/").status_code == 403
    assert operator.post(f"{base}{incident.pk}/delete/", {"post": "yes"}).status_code == 403
    assert operator.post(f"{base}{incident.pk}/change/", {"title": "renamed"}).status_code == 403
    incident.refresh_from_db()
    assert incident.title == "db-down is down"
    assert operator.get("/admin/incidents/service/").status_code == 200


def test_incident_admin_shows_the_latest_50_alerts_in_bounded_queries(
    incident, service, django_assert_max_num_queries
):
    for n in range(54):
        trigger(service, "db-down", payload={"n": n + 1})
    operator = logged_in(UserFactory(is_staff=True, is_superuser=True))
    with django_assert_max_num_queries(15):
        page = operator.get(f"/admin/incidents/incident/{incident.pk}/change/")
    timeline_inline, alerts_inline = page.context["inline_admin_formsets"]
    assert len(timeline_inline.formset.forms) == 1
    payloads = [form.instance.payload["n"] for form in alerts_inline.formset.forms]
    assert payloads == list(range(54, 4, -1))
