"""On-call benchmark: the final schedule of a big schedule, and "who is on call now" for many.

    .venv/bin/python bench/oncall.py [--runs 7] [--schedules 1000]

Prints medians (and min/max) of:
1. the final schedule over one year of a 5-layer, 20-person schedule with restrictions and 50
   overrides, in Europe/Berlin (pure computation, rows already loaded; and the same read from
   the database through `shifts_between`);
2. "who is on call now" for N schedules of 1-3 layers each, through `oncall_user_ids` (one
   query whatever N is, then the computation), and the computation alone.
Targets (issue 5): (1) < 50 ms, (2) < 200 ms in total. Uses its own database
(`opsknight_bench_oncall`) on the embedded server, or BENCH_DATABASE_URL; each run adds a new
organization there and reads only its own.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import setup_django


def timed(function, runs: int) -> list[float]:
    """Milliseconds per call, one sample per run."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def report(label: str, samples: list[float], target: float | None = None) -> None:
    median = statistics.median(samples)
    verdict = (
        ""
        if target is None
        else f"  target < {target:g} ms: {'met' if median < target else 'MISSED'}"
    )
    print(
        f"{label:<66} median {median:8.2f} ms"
        f"  (min {min(samples):.2f}, max {max(samples):.2f}){verdict}"
    )


def build_big_schedule(org, users, start: datetime):
    from oncall.models import RestrictionKind, RotationType, RotationUnit
    from oncall.services import RestrictionInput, layer_create, override_create, schedule_create

    schedule = schedule_create(organization=org, name="Big", time_zone="Europe/Berlin")
    weekdays = RestrictionInput(start_time=clock(9), end_time=clock(17), days=(0, 1, 2, 3, 4))
    weekend = RestrictionInput(
        kind=RestrictionKind.WEEKLY,
        start_weekday=4,
        start_time=clock(18),
        end_weekday=0,
        end_time=clock(8),
    )
    nights = RestrictionInput(start_time=clock(22), end_time=clock(6))
    lunch = RestrictionInput(start_time=clock(12), end_time=clock(13))
    plan = [
        ("Follow the week", users[0:8], RotationType.WEEKLY, {}, [], None),
        ("Business hours", users[8:13], RotationType.DAILY, {}, [weekdays], None),
        (
            "Weekend halves",
            users[13:17],
            RotationType.CUSTOM,
            {"rotation_length": 12, "rotation_unit": RotationUnit.HOURS},
            [weekend],
            None,
        ),
        (
            "Nights",
            users[17:19],
            RotationType.DAILY,
            {"shift_length": timedelta(hours=8)},
            [nights],
            None,
        ),
        (
            "Lunch cover",
            users[19:20],
            RotationType.WEEKLY,
            {},
            [lunch],
            start + timedelta(days=180),
        ),
    ]
    for priority, (name, people, kind, extra, restrictions, end) in enumerate(plan):
        layer_create(
            schedule=schedule,
            name=name,
            start=start,
            end=end,
            participants=people,
            priority=priority,
            rotation_type=kind,
            handoff_time=clock(9, 30),
            restrictions=restrictions,
            **extra,
        )
    rng = random.Random(5)
    for n in range(50):
        window_start = start + timedelta(days=7 * n, hours=rng.randrange(0, 120))
        length = timedelta(hours=rng.randrange(1, 30))
        replaces = users[rng.randrange(0, 8)] if n % 2 else None
        cover = users[(users.index(replaces) + 1) % 8] if replaces else users[rng.randrange(20)]
        override_create(
            schedule=schedule,
            user=cover,
            replaces=replaces,
            start=window_start,
            end=window_start + length,
        )
    return schedule


def build_many(org, users, count: int, start: datetime) -> list[int]:
    """`count` schedules of 1-3 layers, rows written in bulk (the builder is not what we time)."""
    from oncall.models import (
        Layer,
        LayerParticipant,
        LayerRestriction,
        Override,
        RotationType,
        Schedule,
    )

    rng = random.Random(7)
    schedules = Schedule.objects.bulk_create(
        Schedule(
            organization=org,
            name=f"Team {n}",
            time_zone=rng.choice(["Europe/Berlin", "America/New_York", "Australia/Sydney", "UTC"]),
        )
        for n in range(count)
    )
    layers = []
    for schedule in schedules:
        for priority in range(rng.randint(1, 3)):
            layers.append(
                Layer(
                    schedule=schedule,
                    name=f"L{priority}",
                    priority=priority,
                    start=start,
                    rotation_type=rng.choice([RotationType.DAILY, RotationType.WEEKLY]),
                    handoff_time=clock(rng.randrange(24), 30),
                )
            )
    layers = Layer.objects.bulk_create(layers)
    LayerParticipant.objects.bulk_create(
        LayerParticipant(layer=layer, user=user, position=position)
        for layer in layers
        for position, user in enumerate(rng.sample(users, rng.randint(2, 6)))
    )
    LayerRestriction.objects.bulk_create(
        LayerRestriction(layer=layer, start_time=clock(8), end_time=clock(20), days=[0, 1, 2, 3, 4])
        for layer in layers
        if layer.priority > 0
    )
    now = datetime.now(UTC)
    Override.objects.bulk_create(
        Override(
            schedule=schedule,
            user=rng.choice(users),
            start=now - timedelta(hours=1),
            end=now + timedelta(hours=rng.randint(1, 5)),
        )
        for schedule in schedules[: count // 10]
    )
    return [schedule.pk for schedule in schedules]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--schedules", type=int, default=1000)
    args = parser.parse_args()
    setup_django("opsknight_bench_oncall")

    from django.db import connection, transaction

    from oncall.models import Schedule
    from oncall.rotation import final_schedule, oncall_at
    from oncall.selectors import oncall_user_ids, schedule_specs, shifts_between
    from opsknight.models import Membership, Organization, Role, User

    with transaction.atomic():  # the data, committed: the server plans with real statistics
        org = Organization.objects.create(name="Bench", slug=f"bench-{time.time_ns()}")
        users = User.objects.bulk_create(
            User(email=f"bench-{org.slug}-{n}@example.com", display_name=f"Person {n}")
            for n in range(40)
        )
        Membership.objects.bulk_create(
            Membership(organization=org, user=user, role=Role.RESPONDER) for user in users
        )
        start = datetime(2026, 1, 5, tzinfo=UTC)
        big = build_big_schedule(org, users[:20], start)
        ids = build_many(org, users, args.schedules, start)
    with connection.cursor() as cursor:  # as autovacuum would after a bulk load
        cursor.execute(
            "ANALYZE oncall_schedule, oncall_layer, oncall_layerparticipant, "
            "oncall_layerrestriction, oncall_override"
        )
    year_end = start + timedelta(days=365)
    spec = schedule_specs([big.pk], start=start, end=year_end)[big.pk]
    blocks = final_schedule(spec, start, year_end)
    print(
        f"big schedule: 5 layers, 20 people, {len(spec.overrides)} overrides, one year -> "
        f"{len(blocks)} blocks, {sum(1 for b in blocks if b.is_gap)} gaps"
    )
    report(
        "final schedule, 1 year, computation only",
        timed(lambda: final_schedule(spec, start, year_end), args.runs),
        50,
    )
    report(
        "final schedule, 1 year, read from the database (shifts_between)",
        timed(lambda: shifts_between(big, start, year_end), args.runs),
        50,
    )
    now = datetime.now(UTC)
    many = Schedule.objects.filter(organization=org).exclude(pk=big.pk)
    specs = schedule_specs(many, start=now, end=now + timedelta(microseconds=1))
    report(
        f"who is on call now, {len(ids)} schedules, computation only",
        timed(lambda: [oncall_at(s, now) for s in specs.values()], args.runs),
        200,
    )
    report(
        f"who is on call now, {len(ids)} schedules, with the database (one query)",
        timed(lambda: oncall_user_ids(many, now), args.runs),
        200,
    )


if __name__ == "__main__":
    main()
