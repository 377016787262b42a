"""Notification benchmark: from an alert's POST to its email's arrival, as production runs it.

    .venv/bin/python bench/notify.py [--alerts 500] [--rate 20] [--storm 2000] [--clients 16]
                                     [--runs 3] [--workers 2] [--web-workers 2]

A local SMTP server (aiosmtpd, in this process) records each email's arrival; the web server
(granian, as bench/ingest.py starts it) and the worker(s) (`manage.py procrastinate worker
--concurrency 4`), started once, get EMAIL_URL pointing at it. Each run, on fresh services:
- latency: `--alerts` PagerDuty v2 triggers at a steady `--rate`/s, round-robin over services
  whose one-step policy pages one person (5 alerts a person: email is throttled to 10 a minute
  per address), each summary holding a token read back from the subject; latency = arrival -
  POST start. Target p50 < 200 ms, p99 < 1 s.
- storm: `--storm` triggers on one dedup key from `--clients` connections: time to the first
  email, and until every POST returned 2xx (= committed; the DB must then hold one incident with
  every alert), then the emails `--settle` s later. Target < 1 s, < 10 s, exactly 1 email.
- RSS (VmRSS summed over each process tree) of web and worker(s) after each phase, and CPU
  ms per alert of web, worker(s), this database's PostgreSQL backends and the bench itself.
Prints per-run lines and medians beside the Grafana OnCall figures measured on this machine.
Uses its own database (`opsknight_bench_notify`) on the embedded server, or BENCH_DATABASE_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from uuid import uuid4

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, setup_django
from ingest import _cpu_seconds, _tree, start_server

sys.path.insert(0, str(ROOT))  # ingest put bench/ first: its escalation.py would shadow the app

PER_PERSON = 5  # page emails per address per run: under the 10-a-minute email throttle
SUBJECT = re.compile(r"\] #\d+ (\S+)")  # [OpsKnight] #<number> <title> (<service>, level N)
# This database's PostgreSQL backends (other databases on the server are others' work).
BACKENDS = "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
# Grafana OnCall on this machine, printed beside ours (its latencies were at 1 alert/s).
GRAFANA = ("1.4 s at 1/s", "2.5-4.8 s at 1/s", "6 min 10 s", "~620 MB", "~300-430 MB")


class Inbox:
    """aiosmtpd handler: each message's arrival (time.time()), subject token and headers."""

    def __init__(self) -> None:
        self.messages: list[dict] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        arrived = time.time()
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        subject = str(message["Subject"] or "")
        token = match.group(1) if (match := SUBJECT.search(subject)) else None
        incident = message["X-OpsKnight-Incident"]
        self.messages.append(
            {"at": arrived, "token": token, "incident": incident, "subject": subject}
        )
        return "250 OK"

    def arrivals(self, prefix: str) -> dict[str, list[float]]:
        found: dict[str, list[float]] = {}
        for m in list(self.messages):
            if m["token"] and m["token"].startswith(prefix):
                found.setdefault(m["token"], []).append(m["at"])
        return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def rss_mb(roots: list[int]) -> float:
    total = 0
    for pid in (p for root in roots for p in _tree(root)):
        with contextlib.suppress(OSError):
            found = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
            total += int(found.group(1)) if found else 0
    return total / 1024


def make_world(run: int, people: int) -> dict:
    """An organization; `people` services each paging its own person; storm and warm-up ones."""
    from django.db import transaction

    from escalation.services import StepInput, policy_create, service_policy_set
    from incidents.services import service_create
    from integrations.services import integration_create
    from opsknight.models import Membership, Organization, Role, User

    stamp = uuid4().hex[:8]
    with transaction.atomic():
        org = Organization.objects.create(name=f"Bench notify {stamp}", slug=f"bn-{stamp}")

        def paged(name: str):
            person = User.objects.create_user(email=f"{name.lower()}-{stamp}@example.com")
            Membership.objects.create(user=person, organization=org, role=Role.RESPONDER)
            service = service_create(organization=org, name=f"{name} r{run}")
            step = StepInput(delay_minutes=0, user_ids=[person.pk])
            policy = policy_create(organization=org, name=name, steps=[step])
            service_policy_set(service=service, policy=policy)
            issued = integration_create(
                service=service, kind="pagerduty", name="bench", rate_limit_per_minute=0
            )
            return service, issued.key

        paging = [paged(f"Svc{i}") for i in range(people)]
        return {"paged": paging, "storm": paged("Storm"), "warm": paged("Warm")}


def sql(query: str, params: tuple = ()) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def start_workers(count: int, logs: Path) -> list[subprocess.Popen]:
    """`count` workers as production runs them; returns once each has registered."""

    def registered(since: int) -> tuple[int, int]:
        return sql(
            "SELECT count(*), coalesce(max(id), 0) FROM procrastinate_workers WHERE id > %s",
            (since,),
        )[0]

    before = registered(-1)[1]
    argv = [sys.executable, "manage.py", "procrastinate", "worker", "--concurrency", "4"]
    spawn = {"cwd": ROOT, "env": {**os.environ, "PYTHONUNBUFFERED": "1"}, "start_new_session": True}
    procs = []
    for n in range(count):
        with open(logs / f"worker-{n}.log", "a") as log:
            procs.append(subprocess.Popen(argv, stdout=log, stderr=log, **spawn))
    if not wait_until(lambda: registered(before)[0] >= count, 60):
        stop(procs)
        raise SystemExit(f"workers did not register within 60 s; see {logs}")
    return procs


def stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM each process group, then wait (procrastinate drains for up to 10 s)."""
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_until(done, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def trigger(key: str, dedup_key: str, summary: str) -> bytes:
    payload = {"summary": summary, "source": "bench-host", "severity": "critical"}
    return json.dumps(
        {"routing_key": key, "event_action": "trigger", "dedup_key": dedup_key, "payload": payload}
    ).encode()


async def _post(reader, writer, body: bytes) -> int:
    writer.write(
        b"POST /v2/enqueue HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    head = await reader.readuntil(b"\r\n\r\n")
    await reader.readexactly(int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1)))
    return int(head.split(b" ", 2)[1])


async def paced(port: int, bodies: list[tuple[str, bytes]], rate: float, conns: int = 8):
    """POST at a steady rate by the clock (no drift; inf: all at once) over a pool of keep-alive
    connections; returns each token's POST start (time.time()), the statuses and the worst lag
    behind plan."""
    pool: asyncio.Queue = asyncio.Queue()
    for _ in range(conns):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    sent: dict[str, float] = {}
    statuses: Counter = Counter()
    wall0, mono0 = time.time(), time.monotonic()

    async def one(token: str, body: bytes) -> None:
        conn = await pool.get()
        try:
            sent[token] = time.time()
            statuses[await _post(*conn, body)] += 1
        finally:
            pool.put_nowait(conn)

    tasks = []
    for i, (token, body) in enumerate(bodies):
        if (delay := mono0 + i / rate - time.monotonic()) > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(token, body)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait()[1].close()
    lag = max(sent[token] - wall0 - i / rate for i, (token, _) in enumerate(bodies))
    return sent, statuses, lag


def deliveries(services) -> str:
    """What the DB says about these services' pages: incidents, notification statuses, errors."""
    from django.db.models import Count

    from incidents.models import Incident
    from notifications.models import Notification

    rows = Notification.objects.filter(incident__service__in=services)
    by_status = dict(rows.values_list("status").annotate(n=Count("id")).order_by())
    errors = Counter(rows.exclude(error="").values_list("error", flat=True)).most_common(3)
    incidents = Incident.objects.filter(service__in=services).count()
    return f"incidents {incidents}, notifications {by_status}, errors {errors}"


def latency_phase(args, run: int, port: int, inbox: Inbox, world: dict, cpu_groups: dict) -> dict:
    people, prefix = len(world["paged"]), f"{uuid4().hex[:4]}r{run}a"
    bodies = [
        (f"{prefix}{i}", trigger(world["paged"][i % people][1], uuid4().hex, f"{prefix}{i} bench"))
        for i in range(args.alerts)
    ]
    cpu0, start = {k: _cpu_seconds(v()) for k, v in cpu_groups.items()}, time.monotonic()
    sent, statuses, lag = asyncio.run(paced(port, bodies, args.rate))
    if set(statuses) != {202}:
        raise SystemExit(f"run {run}: latency phase statuses {dict(statuses)}")
    ok = wait_until(lambda: len(inbox.arrivals(prefix)) >= len(sent), args.timeout)
    elapsed = time.monotonic() - start  # CPU from the first POST to the last email
    cpu = {k: _cpu_seconds(v()) - cpu0[k] for k, v in cpu_groups.items()}
    if not ok:
        raise SystemExit(
            f"run {run}: {len(sent) - len(inbox.arrivals(prefix))} of {len(sent)} emails missing "
            f"after {args.timeout:g} s; DB: {deliveries([s for s, _ in world['paged']])}"
        )
    arrivals = inbox.arrivals(prefix)
    latency = [min(arrivals[t]) - sent[t] for t in sent]  # in POST order
    tenth = max(1, len(latency) // 10)
    return {
        "p50": percentile(latency, 0.5),
        "p99": percentile(latency, 0.99),
        "max": max(latency),
        "first_tenth": statistics.median(latency[:tenth]),
        "last_tenth": statistics.median(latency[-tenth:]),
        "lag": lag,
        "duplicates": sum(len(v) - 1 for v in arrivals.values()),
        "cpu_ms": {k: 1000 * v / args.alerts for k, v in cpu.items()},
        "worker_busy": cpu["worker"] / elapsed / args.workers,
    }


def storm_phase(args, run: int, port: int, inbox: Inbox, world: dict) -> dict:
    from incidents.models import Alert, Incident

    service, key = world["storm"]
    token = f"r{run}s{uuid4().hex[:6]}"
    body = trigger(key, f"storm-{token}", f"{token} storm")
    start = time.time()
    bodies = [(str(i), body) for i in range(args.storm)]  # `clients` connections, back to back
    _, statuses, _ = asyncio.run(paced(port, bodies, float("inf"), args.clients))
    all_done = time.time()
    wait_until(lambda: token in inbox.arrivals(token), args.timeout)
    first = min(inbox.arrivals(token).get(token, [float("inf")]))
    last = all_done if first == float("inf") else max(all_done, first)
    time.sleep(max(0.0, last + args.settle - time.time()))
    return {
        "first": first - start,
        "all": all_done - start,
        "accepted": statuses.get(202, 0),
        "statuses": dict(statuses),
        "emails": len(inbox.arrivals(token).get(token, [])),
        "incidents": Incident.objects.filter(service=service).count(),
        "alerts": Alert.objects.filter(incident__service=service).count(),
        "db": deliveries([service]),
    }


def one_run(args, run: int, port: int, inbox: Inbox, cpu_groups: dict, rss_groups: dict) -> dict:
    # Nobody acknowledges the bench's incidents: their SLA warnings and breaches (10, 15, 115
    # and 120 min on) would fire in later runs, check_sla work competing with the pages.
    sql("UPDATE escalation_slaclock SET next_check_at = NULL WHERE next_check_at IS NOT NULL")
    world = make_world(run, max(1, -(-args.alerts // PER_PERSON)))
    # Warm-up (not measured): the first request and page of each process pay for imports.
    warm = [
        (f"w{run}-{i}", trigger(world["warm"][1], uuid4().hex, f"w{run}-{i}")) for i in range(4)
    ]
    asyncio.run(paced(port, warm, 4))
    if not wait_until(lambda: len(inbox.arrivals(f"w{run}-")) == 4, args.timeout):
        raise SystemExit(f"warm-up emails missing; DB: {deliveries([world['warm'][0]])}")
    result = latency_phase(args, run, port, inbox, world, cpu_groups)
    result["rss_latency"] = {k: rss_mb(v) for k, v in rss_groups.items()}
    result["storm"] = storm_phase(args, run, port, inbox, world)
    result["rss"] = {k: rss_mb(v) for k, v in rss_groups.items()}
    return result


def print_run(run: int, r: dict) -> None:
    s, cpu = r["storm"], r["cpu_ms"]
    print(
        f"run {run}: latency p50 {r['p50'] * 1000:.0f} ms p99 {r['p99'] * 1000:.0f} ms "
        f"max {r['max'] * 1000:.0f} ms (first/last tenth p50 "
        f"{r['first_tenth'] * 1000:.0f}/{r['last_tenth'] * 1000:.0f} ms; send lag max "
        f"{r['lag'] * 1000:.0f} ms; {r['duplicates']} duplicates; CPU ms/alert web "
        f"{cpu['web']:.0f} worker {cpu['worker']:.0f} ({r['worker_busy']:.0%} busy) PostgreSQL "
        f"{cpu['postgres']:.0f} bench {cpu['bench']:.0f}) | storm first email {s['first']:.2f} s, "
        f"all processed {s['all']:.2f} s {s['statuses']}, emails {s['emails']}, "
        f"incidents {s['incidents']}, alerts {s['alerts']} | RSS after latency/storm web "
        f"{r['rss_latency']['web']:.0f}/{r['rss']['web']:.0f} MB, worker "
        f"{r['rss_latency']['worker']:.0f}/{r['rss']['worker']:.0f} MB",
        flush=True,
    )
    if s["emails"] != 1 or s["incidents"] != 1 or s["alerts"] != s["accepted"]:
        print(f"  storm DB: {s['db']}", flush=True)


def report(args, rows: list[dict]) -> None:
    def med(get) -> float:
        return statistics.median(get(r) for r in rows)

    def line(label: str, ours: str, target: str, ok: bool | None, reference: str = "") -> None:
        verdict = "" if ok is None else "met" if ok else "MISSED"
        print(f"  {label:21} {ours:>16}   {target:10} {verdict:7} {reference}")

    p50, p99 = med(lambda r: r["p50"]), med(lambda r: r["p99"])
    first, done = med(lambda r: r["storm"]["first"]), med(lambda r: r["storm"]["all"])
    emails = [r["storm"]["emails"] for r in rows]
    exact = all(
        s["emails"] == 1 and s["incidents"] == 1 and s["alerts"] == s["accepted"] == args.storm
        for s in (r["storm"] for r in rows)
    )
    print(f"\nmedian of {len(rows)} run(s)              ours   target     verdict Grafana OnCall")
    print("  (RSS: after the latency phase/after the storm, VmRSS summed over the process tree)")
    line("latency p50", f"{p50 * 1000:.0f} ms", "< 200 ms", p50 < 0.2, GRAFANA[0])
    line("latency p99", f"{p99 * 1000:.0f} ms", "< 1 s", p99 < 1, GRAFANA[1])
    line("storm first email", f"{first:.2f} s", "< 1 s", first < 1, GRAFANA[2])
    line("storm all processed", f"{done:.2f} s", "< 10 s", done < 10, "")
    line("storm emails", str(emails), "exactly 1", exact, "")
    for name, reference in (("web", GRAFANA[3]), ("worker", GRAFANA[4])):
        end, mid = med(lambda r, n=name: r["rss"][n]), med(lambda r, n=name: r["rss_latency"][n])
        line(f"RSS {name}", f"{mid:.0f}/{end:.0f} MB", "", None, reference)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=500)
    parser.add_argument("--rate", type=float, default=20.0, help="alerts/s, latency phase")
    parser.add_argument("--storm", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16, help="storm connections")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--workers", type=int, default=2, help="worker processes (production: one per core)"
    )
    parser.add_argument("--web-workers", type=int, default=2, help="granian workers")
    parser.add_argument("--timeout", type=float, default=60.0, help="s to wait for emails")
    parser.add_argument("--settle", type=float, default=5.0, help="s to wait for extra emails")
    args = parser.parse_args()

    from aiosmtpd.controller import Controller

    smtp_port, web_port = free_port(), free_port()
    os.environ.update(
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}",
        BASE_URL=f"http://127.0.0.1:{web_port}",
        DEBUG="false",
        LOG_LEVEL="WARNING",
    )
    setup_django("opsknight_bench_notify")
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    logs = Path(tempfile.mkdtemp(prefix="bench-notify-"))
    print(
        f"latency: {args.alerts} alerts at {args.rate:g}/s, round-robin over "
        f"{-(-args.alerts // PER_PERSON)} services and people ({PER_PERSON} emails each: email is "
        f"throttled to 10/min per address); storm: {args.storm} alerts on one dedup key from "
        f"{args.clients} clients; {args.workers} worker(s) --concurrency 4, granian --workers "
        f"{args.web_workers} --blocking-threads 2; worker logs in {logs}",
        flush=True,
    )
    rows, procs = [], []
    try:
        server = start_server("granian", web_port, os.environ["DATABASE_URL"], args.web_workers, 2)
        try:
            # Jobs queued while no worker ran (periodic ones) would compete with the pages.
            sql("DELETE FROM procrastinate_jobs WHERE status IN ('todo', 'doing')")
            procs = start_workers(args.workers, logs)
            rss_groups = {"web": [server.pid], "worker": [p.pid for p in procs]}
            cpu_groups = {
                "web": lambda: _tree(server.pid),
                "worker": lambda: [q for p in procs for q in _tree(p.pid)],
                "postgres": lambda: [p for (p,) in sql(BACKENDS)],
                "bench": lambda: [os.getpid()],  # the HTTP clients and the SMTP server
            }
            for run in range(1, args.runs + 1):
                rows.append(one_run(args, run, web_port, inbox, cpu_groups, rss_groups))
                print_run(run, rows[-1])
        finally:
            stop(procs)
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    finally:
        smtp.stop()
    report(args, rows)


if __name__ == "__main__":
    main()
