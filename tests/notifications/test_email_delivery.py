"""Pages by email, end to end: an escalation step → delivery records → a real SMTP server on
loopback (aiosmtpd), through Django's SMTP backend as production configures it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import services as lifecycle
from notifications.delivery import BACKOFF, MAX_ATTEMPTS, delivery_run
from notifications.models import (
    Channel,
    ContactMethod,
    DeliveryAttempt,
    DeliveryStatus,
    Notification,
    NotificationRequest,
    NotificationRule,
    RequestStatus,
)
from opsknight.actors import Actor
from tests.escalation.factories import policy, queued, run_next_step, step
from tests.incidents.factories import make_service, trigger
from tests.notifications.conftest import deliver_all, due_now
from tests.oncall.factories import people

pytestmark = pytest.mark.django_db


@pytest.fixture
def paged(org):
    """An incident whose first step paged one person (their deliveries are planned, not sent)."""
    person = people(org, 1)[0]
    service = make_service(org, name="Checkout API")
    policy(org, [step(person)], service=service)
    incident = trigger(service, summary="Checkout latency p99 above 2s")
    run_next_step()
    return incident, person


def test_a_page_arrives_by_email_with_the_incident_and_a_link(inbox, paged):
    incident, person = paged
    assert deliver_all() == 1
    [message] = inbox.messages
    assert message["To"] == person.email
    assert message["Subject"] == (
        f"[OpsKnight] #{incident.number} Checkout latency p99 above 2s (Checkout API, level 1)"
    )
    assert message["Message-ID"] == f"<notification-{Notification.objects.get().pk}@opsknight>"
    assert message["X-OpsKnight-Incident"] == str(incident.number)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    link = f"https://oncall.example.com/incidents/{incident.pk}/"
    assert link in text
    assert f'href="{link}"' in html
    assert "Escalation level: 1" in text
    delivery = Notification.objects.get()
    assert (delivery.status, delivery.attempts, delivery.channel) == ("sent", 1, "email")
    assert delivery.sent_at is not None
    [attempt] = DeliveryAttempt.objects.all()
    assert (attempt.outcome, attempt.finished_at is not None) == ("sent", True)
    assert NotificationRequest.objects.get().status == RequestStatus.DONE


def test_acknowledged_before_its_time_the_page_is_cancelled_and_nothing_is_sent(inbox, paged):
    incident, person = paged
    lifecycle.acknowledge(incident_id=incident.pk, actor=Actor.for_user(person))
    deliver_all()
    assert inbox.messages == []
    delivery = Notification.objects.get()
    assert (delivery.status, delivery.error) == ("cancelled", "incident acknowledged")


def test_escalate_now_on_an_acknowledged_incident_still_delivers(inbox, org):
    first, second = people(org, 2)
    service = make_service(org)
    policy(org, [step(first), step(second, delay=30)], service=service)
    incident = trigger(service)
    run_next_step()
    lifecycle.acknowledge(incident_id=incident.pk, actor=Actor.for_user(first))
    lifecycle.escalate_now(incident_id=incident.pk, actor=Actor.for_user(first))
    while run_next_step():
        pass
    deliver_all()
    assert [m["To"] for m in inbox.messages] == [second.email]


def test_an_unreachable_mail_server_is_retried_on_the_backoff_then_failed(nowhere, paged):
    before = timezone.now()
    job = queued("notifications.deliver")[0]
    delivery_run(**job.args)
    delivery = Notification.objects.get()
    assert delivery.status == DeliveryStatus.PENDING
    assert "mail server unavailable" in delivery.error
    assert before + BACKOFF[0] <= delivery.due_at <= timezone.now() + BACKOFF[0]
    retry = queued("notifications.deliver")[-1]
    assert retry.scheduled_at == delivery.due_at
    for _ in range(MAX_ATTEMPTS - 1):
        due_now(delivery.pk)
        delivery_run(notification_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", MAX_ATTEMPTS)
    gaps = []
    for attempt in DeliveryAttempt.objects.filter(notification=delivery):
        assert attempt.outcome == "failed"
        gaps.append(attempt.number)
    assert gaps == list(range(1, MAX_ATTEMPTS + 1))
    delivery_run(notification_id=delivery.pk)  # a stray job for a finished row does nothing
    assert DeliveryAttempt.objects.filter(notification=delivery).count() == MAX_ATTEMPTS


def test_a_row_left_sending_by_a_dead_worker_is_never_sent_again(inbox, paged):
    delivery = Notification.objects.get()
    Notification.objects.filter(pk=delivery.pk).update(status="sending", attempts=1)
    DeliveryAttempt.objects.create(notification=delivery, number=1)
    delivery_run(notification_id=delivery.pk)
    assert inbox.messages == []
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.error.startswith("outcome unknown")
    assert DeliveryAttempt.objects.get().outcome == "unknown"


def test_personal_rules_order_the_deliveries_and_a_channel_without_provider_fails_clearly(
    inbox, org
):
    person = people(org, 1)[0]
    now = timezone.now()
    work = ContactMethod.objects.create(
        user=person, channel=Channel.EMAIL, address="pager@example.com", verified_at=now
    )
    phone = ContactMethod.objects.create(
        user=person, channel=Channel.SMS, address="+15550100", verified_at=now
    )
    unverified = ContactMethod.objects.create(
        user=person, channel=Channel.EMAIL, address="unverified@example.com"
    )
    for delay, method in ((0, phone), (2, work), (0, unverified)):
        NotificationRule.objects.create(
            user=person, urgency="high", delay_minutes=delay, contact_method=method
        )
    service = make_service(org)
    policy(org, [step(person)], service=service)
    incident = trigger(service)
    run_next_step()
    rows = list(Notification.objects.filter(incident=incident).order_by("due_at", "id"))
    assert [(r.channel, r.address) for r in rows] == [
        ("sms", "+15550100"),
        ("email", "pager@example.com"),
    ]
    assert rows[1].due_at - rows[0].due_at == timedelta(minutes=2)
    deliver_all()
    assert [m["To"] for m in inbox.messages] == ["pager@example.com"]
    sms = Notification.objects.get(channel="sms")
    assert (sms.status, sms.error) == ("failed", "no SMS provider is configured")


def test_without_rules_the_defaults_use_the_login_email(inbox, paged):
    _, person = paged
    assert list(Notification.objects.values_list("channel", "address")) == [("email", person.email)]


def test_a_step_channel_override_narrows_the_plan_but_never_to_nothing(inbox, org):
    person = people(org, 1)[0]
    service = make_service(org)
    policy(org, [step(person, channels=["voice"])], service=service)
    trigger(service)
    run_next_step()
    assert list(Notification.objects.values_list("channel", flat=True)) == ["email"]


def test_the_auditor_requeues_a_delivery_whose_job_was_lost_and_only_that_one(inbox, paged):
    from django.db import connection

    from escalation.auditor import audit
    from escalation.models import AuditFinding

    incident, _ = paged
    delivery = Notification.objects.get()
    with connection.cursor() as cursor:  # the job is lost (say, deleted by hand)
        cursor.execute("DELETE FROM procrastinate_jobs WHERE task_name = 'notifications.deliver'")
    audit(now=delivery.due_at + timedelta(seconds=30))
    assert queued("notifications.deliver") == []  # not a minute late yet
    audit(now=delivery.due_at + timedelta(minutes=2))
    [job] = queued("notifications.deliver")
    assert job.args == {"notification_id": delivery.pk}
    audit(now=delivery.due_at + timedelta(minutes=3))  # its job is queued now: left alone
    assert len(queued("notifications.deliver")) == 1
    finding = AuditFinding.objects.get(kind="overdue_delivery")
    assert (finding.incident_id, finding.repaired) == (incident.pk, True)
    deliver_all()
    assert len(inbox.messages) == 1


def test_overdue_deliveries_show_in_metrics(client, settings, paged):
    settings.METRICS_PUBLIC, settings.METRICS_TOKEN = True, ""
    Notification.objects.update(due_at=timezone.now() - timedelta(minutes=5))
    text = client.get("/metrics").content.decode()
    assert "opsknight_notification_deliveries_overdue 1.0" in text


def test_the_admin_lists_deliveries_and_refuses_a_rule_using_someone_elses_method(
    client, paged, org
):
    from tests.opsknight.factories import UserFactory

    _, person = paged
    operator = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(operator)
    page = client.get("/admin/notifications/notification/")
    assert page.status_code == 200
    assert person.email in page.content.decode()
    stranger = people(org, 1)[0]
    theirs = ContactMethod.objects.create(
        user=stranger, channel="email", address="x@example.com", verified_at=timezone.now()
    )
    response = client.post(
        "/admin/notifications/notificationrule/add/",
        {
            "user": person.pk,
            "urgency": "high",
            "delay_minutes": 0,
            "contact_method": theirs.pk,
        },
    )
    assert response.status_code == 200
    assert "this person&#x27;s own contact methods" in response.content.decode()
    assert not NotificationRule.objects.exists()


def test_a_delivery_stuck_sending_after_a_crash_is_finished_as_unknown_by_the_auditor(inbox, paged):
    from django.db import connection

    from escalation.auditor import audit

    delivery = Notification.objects.get()
    long_ago = timezone.now() - timedelta(minutes=10)
    Notification.objects.filter(pk=delivery.pk).update(
        status="sending", attempts=1, updated_at=long_ago
    )
    DeliveryAttempt.objects.create(notification=delivery, number=1)
    with connection.cursor() as cursor:  # its job died with the crash
        cursor.execute("DELETE FROM procrastinate_jobs WHERE task_name = 'notifications.deliver'")
    audit()
    deliver_all()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.error.startswith("outcome unknown")
    assert inbox.messages == []


def test_a_stray_job_for_a_row_rescheduled_later_sends_nothing_early(inbox, paged):
    delivery = Notification.objects.get()
    Notification.objects.filter(pk=delivery.pk).update(
        due_at=timezone.now() + timedelta(minutes=10)
    )
    delivery_run(notification_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, inbox.messages) == ("pending", 0, [])
