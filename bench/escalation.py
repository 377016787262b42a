"""Escalation benchmark: how late steps start when many fall due in the same minute.

    .venv/bin/python bench/escalation.py [--incidents 1000] [--runs 3] [--workers 1 2]
                                         [--concurrency 4] [--spread 60]

For each worker count: 1,000 incidents are triggered through ingestion (a policy whose one step
pages a person), then their first pages are re-timed to fall due spread evenly over one minute
(`--spread 0` puts them all on the same instant), real worker processes are started as `make
run` starts them (`manage.py procrastinate worker --concurrency 4`, the settings' poll interval),
and each page's lateness (the step job's start minus its due time, both recorded by the engine
on the timeline row) is collected. Prints p50/p99/max per run and the medians over runs.
Target (issue 6): p99 < 1 s, max < 2 s. Uses its own database (`opsknight_bench_escalation`)
on the embedded server, or BENCH_DATABASE_URL.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, setup_django


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def make_incidents(count: int) -> list[int]:
    from escalation.services import StepInput, policy_create, service_policy_set
    from incidents.ingestion import NormalizedEvent, ingest
    from incidents.models import AlertAction
    from incidents.services import service_create
    from opsknight.models import Membership, Organization, Role, User

    stamp = f"{time.time_ns()}"
    org = Organization.objects.create(name=f"Bench {stamp}", slug=f"bench-{stamp}")
    person = User.objects.create_user(email=f"oncall-{stamp}@example.com")
    Membership.objects.create(user=person, organization=org, role=Role.RESPONDER)
    service = service_create(organization=org, name="Checkout")
    policy = policy_create(
        organization=org, name="Bench", steps=[StepInput(delay_minutes=1, user_ids=[person.pk])]
    )
    service_policy_set(service=service, policy=policy)
    ids = []
    for number in range(count):
        event = NormalizedEvent(
            action=AlertAction.TRIGGER, dedup_key=f"bench-{number}", summary="Checkout errors"
        )
        ids.append(ingest(service=service, event=event, payload={}).incident.pk)
    return ids


def retime(incident_ids: list[int], first_due: datetime, spread: float) -> None:
    """Due times spread evenly over `spread` seconds from `first_due`, state and job alike."""
    from django.db import connection, transaction

    step = spread / max(1, len(incident_ids) - 1) if spread else 0.0
    dues = [(pk, first_due + timedelta(seconds=i * step)) for i, pk in enumerate(incident_ids)]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(
            "UPDATE escalation_escalationstate SET due_at = %s WHERE incident_id = %s",
            [(due, pk) for pk, due in dues],
        )
        cursor.executemany(
            "UPDATE procrastinate_jobs SET scheduled_at = %s WHERE task_name = "
            "'escalation.run_step' AND status = 'todo' AND (args->>'incident_id')::bigint = %s",
            [(due, pk) for pk, due in dues],
        )


def lateness(incident_ids: list[int]) -> list[float]:
    from incidents.models import EventKind, IncidentEvent

    rows = IncidentEvent.objects.filter(
        incident_id__in=incident_ids, kind=EventKind.ESCALATED
    ).values_list("data", flat=True)
    return [
        (
            datetime.fromisoformat(data["started_at"]) - datetime.fromisoformat(data["due_at"])
        ).total_seconds()
        for data in rows
    ]


def escalated(incident_ids: list[int]) -> int:
    from incidents.models import EventKind, IncidentEvent

    return IncidentEvent.objects.filter(
        incident_id__in=incident_ids, kind=EventKind.ESCALATED
    ).count()


def clear_queue() -> None:
    """Earlier runs' leftovers (periodic jobs queued while no worker ran) would compete."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_jobs WHERE status IN ('todo', 'doing')")


def one_run(args: argparse.Namespace, workers: int) -> tuple[float, float, float]:
    from django.utils import timezone

    clear_queue()
    ids = make_incidents(args.incidents)
    first_due = timezone.now() + timedelta(seconds=args.lead)
    retime(ids, first_due, args.spread)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable,
        "manage.py",
        "procrastinate",
        "worker",
        "--concurrency",
        str(args.concurrency),
    ]
    procs = [
        subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(workers)
    ]
    try:
        deadline = time.monotonic() + args.lead + args.spread + 120
        while escalated(ids) < len(ids):
            if time.monotonic() > deadline:
                raise SystemExit(f"only {escalated(ids)} of {len(ids)} pages ran in time")
            time.sleep(0.5)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
    late = lateness(ids)
    return statistics.median(late), percentile(late, 0.99), max(late)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--spread", type=float, default=60.0, help="seconds; 0: same instant")
    parser.add_argument("--lead", type=float, default=10.0, help="seconds to start workers")
    args = parser.parse_args()
    setup_django("opsknight_bench_escalation")
    from django.conf import settings

    poll = settings.PROCRASTINATE_WORKER_DEFAULTS["fetch_job_polling_interval"]
    print(
        f"{args.incidents} incidents, first pages due over {args.spread:g} s; "
        f"worker --concurrency {args.concurrency}, poll interval {poll} s"
    )
    for workers in args.workers:
        results = []
        for run in range(1, args.runs + 1):
            p50, p99, worst = one_run(args, workers)
            results.append((p50, p99, worst))
            print(
                f"  {workers} worker(s) run {run}: lateness p50 {p50 * 1000:7.1f} ms  "
                f"p99 {p99 * 1000:7.1f} ms  max {worst * 1000:7.1f} ms"
            )
        p50s, p99s, maxes = zip(*results, strict=True)
        verdict = (
            "met" if statistics.median(p99s) < 1 and statistics.median(maxes) < 2 else "MISSED"
        )
        print(
            f"{workers} worker(s), median of {args.runs}: "
            f"p50 {statistics.median(p50s) * 1000:.1f} ms"
            f"  p99 {statistics.median(p99s) * 1000:.1f} ms"
            f"  max {statistics.median(maxes) * 1000:.1f} ms"
            f"  (target p99 < 1 s, max < 2 s: {verdict})"
        )


if __name__ == "__main__":
    main()
