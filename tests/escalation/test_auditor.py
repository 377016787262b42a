"""The escalation auditor: overdue pages re-queued once, stuck requests recorded, heartbeat pinged,
and the /metrics gauges that report it all.

Time is moved by passing `now=` to audit, or by backdating rows with .update().
"""

from __future__ import annotations

import logging
import re
import socket
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from escalation.auditor import AuditReport, audit
from escalation.models import AuditFinding, EscalationState, EscalationStatus
from incidents import services as lifecycle
from incidents.models import Incident
from notifications.models import NotificationRequest, Reason, RequestStatus
from opsknight.actors import Actor
from tests.escalation.factories import policy, queued, step
from tests.incidents.factories import make_service, trigger
from tests.oncall.factories import people
from tests.processes import serving

pytestmark = pytest.mark.django_db

SECOND = timedelta(seconds=1)
NOTHING = AuditReport(overdue=0, repaired=0, undelivered=0)


@pytest.fixture
def responder(org):
    return people(org, 1)[0]


@pytest.fixture
def service(org, responder):
    made = make_service(org)
    policy(org, [step(responder), step(responder, delay=5)], service=made)
    return made


def state(incident: Incident) -> EscalationState:
    return EscalationState.objects.get(pk=incident.pk)


def jobs_of(incident: Incident) -> list[dict[str, Any]]:
    return [job.args for job in queued() if job.args["incident_id"] == incident.pk]


def lose_jobs(incident: Incident) -> None:
    """Every queued step job of the incident failed for good."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE procrastinate_jobs SET status = 'failed' WHERE task_name = %s "
            "AND status = 'todo' AND (args->>'incident_id')::bigint = %s",
            ["escalation.run_step", incident.pk],
        )


def findings() -> list[tuple[str, str, bool]]:
    return list(AuditFinding.objects.order_by("id").values_list("kind", "key", "repaired"))


def request(incident: Incident, user, created_at: datetime, **fields: Any) -> NotificationRequest:
    return NotificationRequest.objects.create(
        organization_id=incident.organization_id,
        incident=incident,
        user=user,
        reason=Reason.ESCALATION,
        level=1,
        request_key=fields.pop("request_key", "escalation:1:0"),
        created_at=created_at,
        **fields,
    )


# --- overdue pages -----------------------------------------------------------------------------


def test_an_overdue_page_without_a_job_gets_a_new_one_and_a_repaired_finding(service):
    incident = trigger(service)
    due = state(incident).due_at
    lose_jobs(incident)
    assert jobs_of(incident) == []

    now = due + 31 * SECOND
    assert audit(now=now) == AuditReport(overdue=1, repaired=1, undelivered=0)

    [job] = [j for j in queued() if j.args["incident_id"] == incident.pk]
    assert job.args == {"incident_id": incident.pk, "generation": 1, "tick": 0}
    assert job.scheduled_at == now
    [finding] = AuditFinding.objects.all()
    assert (finding.kind, finding.key, finding.repaired) == (
        "overdue_step",
        f"{incident.pk}:1:0",
        True,
    )
    assert finding.incident_id == incident.pk
    assert finding.detail == "page 0 was 31 s late and had no job; queued a new one"


def test_an_overdue_page_audited_twice_is_one_finding_and_one_new_job(service):
    incident = trigger(service)
    due = state(incident).due_at
    lose_jobs(incident)

    assert audit(now=due + 31 * SECOND) == AuditReport(overdue=1, repaired=1, undelivered=0)
    # The new job is queued now, so the second run only sees workers behind; still one finding.
    assert audit(now=due + 61 * SECOND) == AuditReport(overdue=1, repaired=0, undelivered=0)
    assert findings() == [("overdue_step", f"{incident.pk}:1:0", True)]
    assert jobs_of(incident) == [{"incident_id": incident.pk, "generation": 1, "tick": 0}]


def test_an_overdue_page_whose_job_is_still_queued_is_recorded_not_repaired(service):
    incident = trigger(service)
    due = state(incident).due_at

    assert audit(now=due + 31 * SECOND) == AuditReport(overdue=1, repaired=0, undelivered=0)
    assert jobs_of(incident) == [{"incident_id": incident.pk, "generation": 1, "tick": 0}]
    [finding] = AuditFinding.objects.all()
    assert (finding.kind, finding.repaired) == ("overdue_step", False)
    assert finding.detail == "page 0 is 31 s late; its job is queued: workers behind?"


def test_a_running_job_counts_as_live(service):
    incident = trigger(service)
    due = state(incident).due_at
    with connection.cursor() as cursor:
        cursor.execute("UPDATE procrastinate_jobs SET status = 'doing' WHERE status = 'todo'")

    assert audit(now=due + 31 * SECOND) == AuditReport(overdue=1, repaired=0, undelivered=0)
    assert findings() == [("overdue_step", f"{incident.pk}:1:0", False)]


def test_a_queued_job_of_an_older_generation_does_not_count(org, service):
    incident = trigger(service)
    actor = Actor.for_user(people(org, 1)[0])
    lifecycle.acknowledge(incident_id=incident.pk, actor=actor)
    lifecycle.unacknowledge(incident_id=incident.pk, actor=actor)
    s = state(incident)
    assert (s.status, s.generation, s.cursor) == (EscalationStatus.ESCALATING, 3, 0)
    # The generation-1 job stays queued (it will be a no-op); the current one is lost.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE procrastinate_jobs SET status = 'failed' "
            "WHERE task_name = 'escalation.run_step' AND (args->>'generation')::int = 3"
        )
    assert jobs_of(incident) == [{"incident_id": incident.pk, "generation": 1, "tick": 0}]

    assert audit(now=s.due_at + 31 * SECOND) == AuditReport(overdue=1, repaired=1, undelivered=0)
    assert {"incident_id": incident.pk, "generation": 3, "tick": 0} in jobs_of(incident)
    assert findings() == [("overdue_step", f"{incident.pk}:3:0", True)]


def test_a_page_recorded_as_behind_whose_job_is_then_lost_is_recorded_as_repaired(service):
    incident = trigger(service)
    due = state(incident).due_at
    assert audit(now=due + 31 * SECOND).repaired == 0
    lose_jobs(incident)

    assert audit(now=due + 61 * SECOND) == AuditReport(overdue=1, repaired=1, undelivered=0)
    assert jobs_of(incident) == [{"incident_id": incident.pk, "generation": 1, "tick": 0}]
    [finding] = AuditFinding.objects.all()
    assert finding.repaired is True
    assert finding.detail == "page 0 was 61 s late and had no job; queued a new one"


def test_a_page_due_only_10_s_ago_is_left_alone(service):
    incident = trigger(service)
    due = state(incident).due_at
    lose_jobs(incident)

    assert audit(now=due + 10 * SECOND) == NOTHING
    assert audit(now=due + 30 * SECOND) == NOTHING  # "more than 30 s": exactly 30 is not
    assert jobs_of(incident) == []
    assert findings() == []


def test_an_acknowledged_incident_is_not_overdue(org, service):
    incident = trigger(service)
    lose_jobs(incident)
    lifecycle.acknowledge(incident_id=incident.pk, actor=Actor.for_user(people(org, 1)[0]))
    assert state(incident).status == EscalationStatus.ACKNOWLEDGED

    assert audit(now=timezone.now() + timedelta(hours=1)) == NOTHING
    assert jobs_of(incident) == []
    assert findings() == []


# --- undelivered requests ----------------------------------------------------------------------


def test_a_request_pending_for_more_than_2_minutes_is_undelivered(org, responder):
    incident = trigger(make_service(org))  # no policy: only the request below exists
    now = timezone.now()
    old = request(incident, responder, now - timedelta(minutes=2) - SECOND)
    request(incident, responder, now - timedelta(minutes=2), request_key="young")
    request(
        incident,
        responder,
        now - timedelta(hours=1),
        request_key="done",
        status=RequestStatus.DONE,
    )

    assert audit(now=now) == AuditReport(overdue=0, repaired=0, undelivered=1)
    assert audit(now=now) == AuditReport(overdue=0, repaired=0, undelivered=1)
    [finding] = AuditFinding.objects.all()
    assert (finding.kind, finding.key, finding.repaired) == (
        "undelivered",
        f"request:{old.pk}",
        False,
    )
    assert finding.incident_id == incident.pk
    assert finding.detail == f"level 1 request for user {responder.pk} has no delivery record"


def test_a_request_younger_than_2_minutes_is_not_undelivered(org, responder):
    incident = trigger(make_service(org))
    now = timezone.now()
    request(incident, responder, now - timedelta(seconds=90))
    assert audit(now=now) == NOTHING
    assert findings() == []


# --- heartbeat ---------------------------------------------------------------------------------


class Monitor:
    """A loopback HTTP server that records the requests it gets, as a heartbeat monitor would."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append(("GET", self.path))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/ping/auditor"


@pytest.fixture
def monitor() -> Iterator[Monitor]:
    running = Monitor()
    with serving(running.httpd):
        yield running


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_each_run_pings_the_heartbeat_url(settings, monitor):
    settings.ESCALATION_AUDITOR_HEARTBEAT_URL = monitor.url
    assert audit() == NOTHING
    assert monitor.requests == [("GET", "/ping/auditor")]
    audit()
    assert len(monitor.requests) == 2


def test_no_heartbeat_url_means_no_ping(settings, monitor):
    settings.ESCALATION_AUDITOR_HEARTBEAT_URL = ""
    assert audit() == NOTHING
    assert monitor.requests == []


def test_a_dead_heartbeat_url_does_not_stop_the_audit(settings, service, caplog):
    incident = trigger(service)
    lose_jobs(incident)
    settings.ESCALATION_AUDITOR_HEARTBEAT_URL = f"http://127.0.0.1:{closed_port()}/ping"

    with caplog.at_level(logging.WARNING, logger="escalation.auditor"):
        report = audit(now=state(incident).due_at + 31 * SECOND)
    assert report == AuditReport(overdue=1, repaired=1, undelivered=0)
    assert jobs_of(incident) == [{"incident_id": incident.pk, "generation": 1, "tick": 0}]
    assert "did not answer" in caplog.text


def test_a_heartbeat_url_that_answers_nonsense_does_not_stop_the_audit(settings):
    """Not every failure of urlopen is an OSError: a reply that is not HTTP raises
    http.client.BadStatusLine."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()

        def answer() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(4096)
                conn.sendall(b"nonsense\r\n\r\n")

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        settings.ESCALATION_AUDITOR_HEARTBEAT_URL = (
            f"http://127.0.0.1:{server.getsockname()[1]}/ping"
        )
        assert audit() == NOTHING
        thread.join(timeout=5)


# --- /metrics ----------------------------------------------------------------------------------


def metric_lines(client, settings) -> dict[str, float]:
    settings.METRICS_PUBLIC = True
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics")
    assert response.status_code == 200
    found = {}
    for line in response.content.decode().splitlines():
        match = re.match(r"(opsknight_(?:escalation|notification)\S*) (\S+)$", line)
        if match:
            found[match[1]] = float(match[2])
    return found


def test_metrics_report_overdue_pages_undelivered_requests_and_findings(
    client, settings, org, service, responder
):
    now = timezone.now()
    late, lost, on_time = trigger(service), trigger(service), trigger(service)
    EscalationState.objects.filter(pk__in=[late.pk, lost.pk]).update(
        due_at=now - timedelta(minutes=1)
    )
    lose_jobs(lost)
    request(late, responder, now - timedelta(minutes=5), request_key="old")
    request(late, responder, now - timedelta(seconds=5), request_key="new")

    assert audit(now=now) == AuditReport(overdue=2, repaired=1, undelivered=1)

    assert metric_lines(client, settings) == {
        "opsknight_escalation_steps_overdue": 2.0,
        "opsknight_notification_requests_undelivered": 1.0,
        "opsknight_notification_deliveries_overdue": 0.0,
        'opsknight_escalation_auditor_findings{kind="overdue_step",repaired="false"}': 1.0,
        'opsknight_escalation_auditor_findings{kind="overdue_step",repaired="true"}': 1.0,
        'opsknight_escalation_auditor_findings{kind="undelivered",repaired="false"}': 1.0,
    }
    assert state(on_time).due_at > now


def test_metrics_are_zero_when_all_is_well(client, settings):
    assert metric_lines(client, settings) == {
        "opsknight_escalation_steps_overdue": 0.0,
        "opsknight_notification_requests_undelivered": 0.0,
        "opsknight_notification_deliveries_overdue": 0.0,
    }


def test_the_metric_families_are_described(client, settings):
    settings.METRICS_PUBLIC = True
    settings.METRICS_TOKEN = ""
    text = client.get("/metrics").content.decode()
    for name in (
        "opsknight_escalation_steps_overdue",
        "opsknight_notification_requests_undelivered",
        "opsknight_notification_deliveries_overdue",
        "opsknight_escalation_auditor_findings",
    ):
        assert f"# TYPE {name} gauge" in text
    assert (
        "# HELP opsknight_escalation_steps_overdue "
        "Escalation pages due more than 30 s ago that have not run." in text
    )
