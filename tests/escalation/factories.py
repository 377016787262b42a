"""Builders for escalation tests: policies through the services, and a way to run the jobs
the engine queued, in this process, in the order they fall due."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection

from escalation.models import EscalationPolicy
from escalation.services import StepInput, policy_create, service_policy_set
from escalation.tasks import run_step
from incidents.models import Service
from opsknight.models import Organization

_counter = iter(range(1, 10**9))


def step(*targets: Any, delay: int = 0, **fields: Any) -> StepInput:
    """A step paging `targets` (users, teams, schedules) after `delay` minutes."""
    from oncall.models import Schedule, Team

    return StepInput(
        delay_minutes=delay,
        user_ids=[t.pk for t in targets if not isinstance(t, (Team, Schedule))],
        team_ids=[t.pk for t in targets if isinstance(t, Team)],
        schedule_ids=[t.pk for t in targets if isinstance(t, Schedule)],
        **fields,
    )


def policy(
    org: Organization, steps: Sequence[StepInput], *, service: Service | None = None, **fields: Any
) -> EscalationPolicy:
    made = policy_create(
        organization=org, name=fields.pop("name", f"Policy {next(_counter)}"), steps=steps, **fields
    )
    if service is not None:
        service_policy_set(service=service, policy=made)
    return made


@dataclass(frozen=True)
class QueuedJob:
    id: int
    task_name: str
    args: dict[str, Any]
    scheduled_at: datetime | None


def queued(task_name: str = "escalation.run_step") -> list[QueuedJob]:
    """Jobs waiting in the queue for `task_name`, soonest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, task_name, args, scheduled_at FROM procrastinate_jobs "
            "WHERE task_name = %s AND status = 'todo' ORDER BY scheduled_at NULLS FIRST, id",
            [task_name],
        )
        return [
            QueuedJob(pk, name, json.loads(args) if isinstance(args, str) else args, at)
            for pk, name, args, at in cursor.fetchall()
        ]


def take(job: QueuedJob) -> QueuedJob:
    """Take a job off the queue, as a worker does before running it here."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE procrastinate_jobs SET status = 'succeeded' WHERE id = %s", [job.id])
    return job


def run_next_step() -> QueuedJob | None:
    """Take the soonest queued step job off the queue and run it here, as a worker would
    (whatever its due time: tests move through the plan without waiting)."""
    jobs = queued()
    if not jobs:
        return None
    job = take(jobs[0])
    run_step(**job.args)
    return job
