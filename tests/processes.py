"""Helpers for tests that run OpsKnight's real processes (daphne, workers, manage.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    """A DATABASE_URL for the database this test uses (the test database, not the dev one)."""
    s = connection.settings_dict
    host = s["HOST"] or s["OPTIONS"].get("host", "")
    password = f":{quote(s['PASSWORD'])}" if s["PASSWORD"] else ""
    if host.startswith("/"):
        return f"postgres://{quote(s['USER'])}{password}@/{s['NAME']}?host={host}&port={s['PORT']}"
    return f"postgres://{quote(s['USER'])}{password}@{host}:{s['PORT'] or 5432}/{s['NAME']}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def child_env(**overrides: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": database_url(), "PYTHONUNBUFFERED": "1"}
    env.update(overrides)
    return env


def manage(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=child_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextmanager
def running(argv: list[str], **env: str) -> Iterator[subprocess.Popen[str]]:
    """Run a process for the duration of the block; stop it (SIGTERM, then SIGKILL) after.

    Its output goes to a file (`output(process)` reads it), never to a pipe nobody drains: a
    chatty child would block once a pipe's buffer filled.
    """
    log = tempfile.NamedTemporaryFile("w+", prefix="opsknight-child-", suffix=".log")  # noqa: SIM115
    process = subprocess.Popen(
        argv, cwd=ROOT, env=child_env(**env), stdout=log, stderr=subprocess.STDOUT, text=True
    )
    process.log_path = log.name  # type: ignore[attr-defined]
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process.final_output = output(process)  # type: ignore[attr-defined]
        log.close()


def output(process: subprocess.Popen[str]) -> str:
    return Path(process.log_path).read_text(errors="replace")  # type: ignore[attr-defined]


def daphne(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "daphne",
        "-b",
        "127.0.0.1",
        "-p",
        str(port),
        "opsknight.asgi:application",
    ]


def wait_for_http(url: str, process: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"process exited with {process.returncode}:\n{output(process)}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout}s")
