"""Which incident events become outbound deliveries: written inside the incident's own
transaction, one per matching destination and event, and gone if that transaction rolls back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from escalation.auditor import audit
from escalation.models import AuditFinding
from incidents import services as incidents
from incidents.models import IncidentEvent
from notifications.models import OutboundDelivery, OutboundEvent, OutboundKind
from notifications.outbound.services import POST_OUTBOUND, outbound_destination_create
from opsknight.actors import Actor
from tests.escalation.factories import queued, take
from tests.incidents.factories import make_service, trigger
from tests.notifications.conftest import post_due_outbound

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("test")


class Boom(Exception):
    pass


def hook(org, name, **fields):
    return outbound_destination_create(
        organization=org,
        name=name,
        kind=OutboundKind.WEBHOOK,
        url=f"https://93.184.215.14/{name}",
        secret="s3cret",
        **fields,
    )


def rolled_back(change) -> None:
    """Make a change in a transaction that then fails."""
    with transaction.atomic():
        change()
        raise Boom


def posts_queued() -> list[int]:
    return sorted(job.args["delivery_id"] for job in queued(POST_OUTBOUND))


def test_a_trigger_writes_one_delivery_and_one_job_per_matching_destination(org, other_org):
    checkout, billing = make_service(org, name="Checkout"), make_service(org, name="Billing")
    everything = hook(org, "everything")
    only_checkout = hook(org, "only-checkout", services=[checkout])
    only_billing = hook(org, "only-billing", services=[billing])
    hook(org, "resolves-only", events=[OutboundEvent.RESOLVED])
    hook(org, "disabled", enabled=False)
    hook(other_org, "elsewhere")

    incident = trigger(checkout, summary="Checkout down")

    deliveries = OutboundDelivery.objects.order_by("destination__name")
    assert [d.destination.name for d in deliveries] == ["everything", "only-checkout"]
    assert posts_queued() == sorted(d.pk for d in deliveries)
    timeline = IncidentEvent.objects.get(incident=incident, kind="triggered")
    for delivery in deliveries:
        assert (delivery.incident_id, delivery.event, delivery.status) == (
            incident.pk,
            "triggered",
            "pending",
        )
        assert (delivery.timeline_event_id, delivery.occurred_at) == (
            timeline.pk,
            timeline.created_at,
        )
    assert {d.destination_id for d in deliveries} == {everything.pk, only_checkout.pk}

    trigger(billing, summary="Invoices stuck")
    billing_rows = OutboundDelivery.objects.exclude(incident=incident)
    assert {d.destination_id for d in billing_rows} == {everything.pk, only_billing.pk}


def test_a_rolled_back_trigger_leaves_no_delivery_and_no_job(org):
    service = make_service(org)
    hook(org, "everything")

    def change() -> None:
        trigger(service)
        assert OutboundDelivery.objects.count() == 1  # written inside, with the incident
        assert len(queued(POST_OUTBOUND)) == 1

    with pytest.raises(Boom):
        rolled_back(change)

    assert OutboundDelivery.objects.count() == 0
    assert queued(POST_OUTBOUND) == []


def test_a_rolled_back_acknowledgement_leaves_only_the_trigger_post(org):
    service = make_service(org)
    hook(org, "everything")
    incident = trigger(service)

    with pytest.raises(Boom):
        rolled_back(lambda: incidents.acknowledge(incident_id=incident.pk, actor=ACTOR))

    assert list(OutboundDelivery.objects.values_list("event", flat=True)) == ["triggered"]
    assert len(queued(POST_OUTBOUND)) == 1


def test_every_lifecycle_event_is_posted_once_per_occurrence(org):
    service = make_service(org)
    hook(org, "everything", events=OutboundEvent.values)
    incident = trigger(service)

    incidents.acknowledge(incident_id=incident.pk, actor=ACTOR)
    incidents.unacknowledge(incident_id=incident.pk, actor=ACTOR)
    incidents.escalate_now(incident_id=incident.pk, actor=ACTOR)
    incidents.acknowledge(incident_id=incident.pk, actor=ACTOR)
    incidents.acknowledge(incident_id=incident.pk, actor=ACTOR)  # already: no event, no post
    incidents.resolve(incident_id=incident.pk, actor=ACTOR)
    incidents.reopen(incident_id=incident.pk, actor=ACTOR)

    rows = OutboundDelivery.objects.order_by("id")
    assert [row.event for row in rows] == [
        "triggered",
        "acknowledged",
        "unacknowledged",
        "escalated",
        "acknowledged",
        "resolved",
        "reopened",
    ]
    assert len({row.timeline_event_id for row in rows}) == 7
    assert [row.incident_snapshot["status"] for row in rows] == [
        "triggered",
        "acknowledged",
        "triggered",
        "triggered",
        "acknowledged",
        "resolved",
        "triggered",
    ]
    assert len(queued(POST_OUTBOUND)) == 7


def test_events_a_destination_did_not_ask_for_are_not_posted(org):
    service = make_service(org)
    hook(org, "resolutions", events=[OutboundEvent.RESOLVED])
    incident = trigger(service)
    incidents.acknowledge(incident_id=incident.pk, actor=ACTOR)
    assert not OutboundDelivery.objects.exists()

    incidents.resolve(incident_id=incident.pk, actor=ACTOR)

    assert list(OutboundDelivery.objects.values_list("event", flat=True)) == ["resolved"]


def test_snoozing_is_not_an_outbound_event(org):
    service = make_service(org)
    hook(org, "everything", events=OutboundEvent.values)
    incident = trigger(service)

    incidents.snooze(incident_id=incident.pk, actor=ACTOR, duration=timedelta(hours=1))

    assert list(OutboundDelivery.objects.values_list("event", flat=True)) == ["triggered"]


def test_a_post_sent_after_an_acknowledgement_still_tells_the_trigger(org, receiver):
    service = make_service(org, name="Checkout API")
    outbound_destination_create(
        organization=org,
        name="receiver",
        kind=OutboundKind.WEBHOOK,
        url=receiver.url(),
        secret="s3cret",
        events=[OutboundEvent.TRIGGERED, OutboundEvent.ACKNOWLEDGED],
    )
    incident = trigger(service, summary="Checkout down")
    incidents.acknowledge(incident_id=incident.pk, actor=ACTOR)

    assert post_due_outbound() == 2

    told = [(post.json()["event"], post.json()["incident"]["status"]) for post in receiver.posts]
    assert sorted(told) == [
        ("incident.acknowledged", "acknowledged"),
        ("incident.triggered", "triggered"),
    ]


def test_services_of_another_organization_cannot_be_chosen(org, other_org):
    theirs = make_service(other_org)
    with pytest.raises(ValidationError, match="same organization"):
        hook(org, "hook", services=[theirs])


def test_the_auditor_requeues_a_post_whose_job_was_lost_and_only_that_one(org):
    hook(org, "hook")
    incident = trigger(make_service(org))
    [job] = queued(POST_OUTBOUND)
    take(job)  # the job is gone (as if its worker's queue row were lost)
    row = OutboundDelivery.objects.get()
    assert audit(now=timezone.now()).overdue == 0
    assert queued(POST_OUTBOUND) == []  # not yet a minute overdue
    OutboundDelivery.objects.filter(pk=row.pk).update(due_at=row.due_at - timedelta(minutes=5))
    audit(now=timezone.now())
    [again] = queued(POST_OUTBOUND)
    assert again.args == {"delivery_id": row.pk}
    finding = AuditFinding.objects.get(key=f"outbound:{row.pk}:0")
    assert finding.incident_id == incident.pk
    audit(now=timezone.now())
    assert len(queued(POST_OUTBOUND)) == 1  # its job is live now: not queued twice
