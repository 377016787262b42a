"""The escalation engine: who is paged and when, until a human acknowledges.

Each page of the plan (`escalation.plan`) runs as one procrastinate job, `escalation.run_step`,
scheduled for the moment it is due. The job carries the state's generation and the page's
index; every lifecycle change bumps the generation, so a job deferred before the change finds
itself stale and does nothing. Cancelling needs no job to be found or deleted, and two workers
running the same job cannot both page: the second one finds the cursor moved on.

Locks are taken in the lifecycle's order, incident row first, then escalation state, so a step
running while someone acknowledges waits or is waited for, and never deadlocks.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from escalation.events import IncidentEscalated
from escalation.models import EscalationState, EscalationStatus
from escalation.plan import Page, first_page_of_step_after, plan
from escalation.selectors import TriggerContext, trigger_context
from escalation.targets import resolve_targets
from incidents.models import EventKind, Incident, Status, Urgency
from incidents.services import announce, record_event
from notifications.models import Reason
from notifications.services import notifications_request
from opsknight import jobqueue
from opsknight.actors import Actor
from opsknight.events import publish

logger = logging.getLogger(__name__)

RUN_STEP = "escalation.run_step"
QUEUE = "escalation"
ENGINE = Actor.system("escalation")
# What a step or a transition changes; the snapshot is never written back.
MOVING_PARTS = [
    "status",
    "generation",
    "cursor",
    "due_at",
    "last_tick",
    "last_run_at",
    "manual_pending",
    "started_at",
    "updated_at",
]


def defer_page(state: EscalationState, *, at: datetime | None = None) -> int:
    """Queue the job for the state's current page at its due time, in this transaction."""
    return jobqueue.defer(
        RUN_STEP,
        queue=QUEUE,
        schedule_at=at or state.due_at,
        incident_id=state.incident_id,
        generation=state.generation,
        tick=state.cursor,
    )


def _note(incident: Incident, message: str, data: dict | None = None) -> None:
    record_event(incident, EventKind.ESCALATION_NOTE, ENGINE, message, data or {})


def _schedule(state: EscalationState, cursor: int, due_at: datetime) -> None:
    state.status = EscalationStatus.ESCALATING
    state.cursor = cursor
    state.due_at = due_at
    defer_page(state)


# --- start ------------------------------------------------------------------------------------


_UPSERT_STATE = """
INSERT INTO escalation_escalationstate AS s (incident_id, policy_id, snapshot, status,
    generation, cursor, due_at, last_tick, last_run_at, manual_pending, started_at, updated_at)
VALUES (%(incident)s, %(policy)s, %(snapshot)s::jsonb, %(status)s, 1, 0, %(due)s, NULL, NULL,
    false, %(now)s, %(now)s)
ON CONFLICT (incident_id) DO UPDATE SET policy_id = EXCLUDED.policy_id,
    snapshot = EXCLUDED.snapshot, status = EXCLUDED.status, generation = s.generation + 1,
    cursor = 0, due_at = EXCLUDED.due_at, last_tick = NULL, manual_pending = false,
    started_at = EXCLUDED.started_at, updated_at = EXCLUDED.updated_at
RETURNING generation
"""


def escalation_start(context: TriggerContext) -> None:
    """Freeze the service's policy onto the incident and queue its first page.

    Runs inside the transaction that triggered the incident, on the ingestion hot path: one
    upsert and one job, the policy's snapshot already read with the incident. An incident that
    triggers again (paging resumed after maintenance) starts over with the policy as it is now.
    Without a policy (or steps) the state says so and nobody is paged; the incident page's
    escalation section shows it.
    """
    now = timezone.now()
    pages = plan(context.snapshot)
    status = EscalationStatus.ESCALATING if pages else EscalationStatus.NO_POLICY
    due = now + pages[0].offset if pages else None
    with connection.cursor() as cursor:
        cursor.execute(
            _UPSERT_STATE,
            {
                "incident": context.incident_id,
                "policy": context.policy_id,
                "snapshot": json.dumps(context.snapshot),
                "status": status,
                "due": due,
                "now": now,
            },
        )
        (generation,) = cursor.fetchone()
    if pages:
        jobqueue.defer(
            RUN_STEP,
            queue=QUEUE,
            schedule_at=due,
            incident_id=context.incident_id,
            generation=generation,
            tick=0,
        )


# --- one page ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepOutcome:
    ran: bool
    reason: str  # "paged", "skipped", "stale", "gone", "not_escalating"
    user_ids: tuple[int, ...] = ()


@transaction.atomic
def step_run(*, incident_id: int, generation: int, tick: int) -> StepOutcome:
    """Run page `tick` of the incident's plan, if it is still the one due under `generation`."""
    started = timezone.now()
    incident = Incident.objects.select_for_update().filter(pk=incident_id).first()
    state = EscalationState.objects.select_for_update().filter(pk=incident_id).first()
    if incident is None or state is None:
        return StepOutcome(False, "gone")
    if state.generation != generation or state.cursor != tick:
        return StepOutcome(False, "stale")
    manual = state.manual_pending
    pages = plan(state.snapshot)
    if (
        state.status != EscalationStatus.ESCALATING
        or tick >= len(pages)
        or not (
            incident.status == Status.TRIGGERED
            or (manual and incident.status == Status.ACKNOWLEDGED)
        )
    ):
        return StepOutcome(False, "not_escalating")
    page = pages[tick]
    step = state.snapshot["steps"][page.step]
    due = state.due_at or started
    timing = {"due_at": due.isoformat(), "started_at": started.isoformat()}
    outcome = _page(incident, state, page, step, started, timing, manual=manual)

    state.last_tick, state.last_run_at = tick, started
    state.manual_pending, state.updated_at = False, started
    if incident.status == Status.ACKNOWLEDGED:
        state.status, state.due_at = EscalationStatus.ACKNOWLEDGED, None
    elif tick + 1 < len(pages):
        _schedule(state, tick + 1, due + pages[tick + 1].wait)
    else:
        state.status, state.due_at, state.cursor = EscalationStatus.EXHAUSTED, None, tick + 1
        _note(
            incident,
            "escalation finished: every level was paged and nobody acknowledged",
            {"outcome": "exhausted"},
        )
    state.save(update_fields=MOVING_PARTS)
    announce(incident)
    return outcome


def _page(
    incident: Incident,
    state: EscalationState,
    page: Page,
    step: dict,
    now: datetime,
    timing: dict,
    *,
    manual: bool,
) -> StepOutcome:
    where = {"level": page.level, "loop": page.loop, "tick": page.index, **timing}
    if step.get("high_urgency_only") and incident.urgency != Urgency.HIGH:
        _note(
            incident,
            f"skipped level {page.level}: it pages only for high urgency",
            {**where, "outcome": "skipped"},
        )
        return StepOutcome(True, "skipped")
    found = resolve_targets(incident.organization_id, page.targets, now)
    users = notifications_request(
        incident=incident,
        user_ids=found.user_ids,
        reason=Reason.ESCALATION,
        level=page.level,
        request_key=f"escalation:{state.generation}:{page.index}",
        channels=step.get("channels", ()),
    )
    repeat = f", repeat {page.loop}" if page.loop else ""
    message = f"escalated (level {page.level}{repeat})"
    if manual:
        message += " by request"
    if not users:
        message += ": nobody to page"
    record_event(
        incident,
        EventKind.ESCALATED,
        ENGINE,
        message,
        {
            **where,
            "user_ids": users,
            "targets": [f"{t['type']}:{t['id']}" for t in page.targets],
            "notes": found.notes,
            "round_robin_turn": page.round_robin_turn,
            "manual": manual,
        },
    )
    publish(
        IncidentEscalated(
            incident_id=incident.pk,
            organization_id=incident.organization_id,
            level=page.level,
            user_ids=tuple(users),
        )
    )
    return StepOutcome(True, "paged", tuple(users))


# --- lifecycle --------------------------------------------------------------------------------


def _locked_state(incident_id: int) -> EscalationState | None:
    return EscalationState.objects.select_for_update().filter(pk=incident_id).first()


def _stop(state: EscalationState, status: EscalationStatus) -> None:
    state.generation += 1
    if state.status != EscalationStatus.NO_POLICY:
        state.status = status
    state.due_at, state.manual_pending, state.updated_at = None, False, timezone.now()
    state.save(update_fields=MOVING_PARTS)


def escalation_stop(*, incident_id: int, why: EscalationStatus) -> None:
    """Acknowledged, snoozed or resolved: every pending page becomes a no-op."""
    state = _locked_state(incident_id)
    if state is not None:
        _stop(state, why)


def escalation_resume(*, incident_id: int) -> None:
    """Unacknowledged or unsnoozed: page the current level again now, then carry on."""
    state = _locked_state(incident_id)
    if state is None or state.status == EscalationStatus.NO_POLICY:
        return
    state.generation += 1
    state.manual_pending, state.updated_at = False, timezone.now()
    pages = plan(state.snapshot)
    cursor = state.last_tick if state.last_tick is not None else min(state.cursor, len(pages) - 1)
    _schedule(state, cursor, timezone.now())
    state.save(update_fields=MOVING_PARTS)


def escalation_restart(*, incident: Incident) -> None:
    """Reopened: from the first level again, after its delay, with the frozen policy."""
    state = _locked_state(incident.pk)
    if state is None:
        escalation_start(trigger_context(incident_id=incident.pk))
        return
    if state.status == EscalationStatus.NO_POLICY:
        return
    state.generation += 1
    state.last_tick, state.manual_pending = None, False
    state.started_at = state.updated_at = timezone.now()
    _schedule(state, 0, state.started_at + plan(state.snapshot)[0].offset)
    state.save(update_fields=MOVING_PARTS)


def escalation_jump(*, incident: Incident) -> None:
    """ "Escalate now": page the next level at once, even if the incident is acknowledged."""
    state = _locked_state(incident.pk)
    if state is None or state.status == EscalationStatus.NO_POLICY:
        _note(incident, "cannot escalate: the service has no escalation policy")
        return
    pages = plan(state.snapshot)
    if state.last_tick is None:
        cursor = min(state.cursor, len(pages) - 1)
    else:
        following = first_page_of_step_after(pages, state.last_tick)
        if following is None:
            cursor = state.last_tick
            _note(incident, "no higher level: paging the last level again")
        else:
            cursor = following
    state.generation += 1
    state.manual_pending, state.updated_at = True, timezone.now()
    _schedule(state, cursor, timezone.now())
    state.save(update_fields=MOVING_PARTS)


def overdue_states(*, grace: timedelta) -> list[EscalationState]:
    return list(
        EscalationState.objects.filter(
            status=EscalationStatus.ESCALATING, due_at__lt=timezone.now() - grace
        ).order_by("due_at")[:500]
    )
