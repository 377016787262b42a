"""`make run`: migrate, seed demo data, then run the web server and a worker until Ctrl-C.

One supervisor so that a developer sees both logs in one terminal and one Ctrl-C stops both
cleanly. Production runs the two as separate services instead (see deploy/). It lives in
`integrations`, the top layer, because it composes the whole product (the demo data).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from typing import IO, Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.db.utils import OperationalError

from integrations.demo import DemoLogin, DemoRefusedError, seed_demo

STOP_TIMEOUT_SECONDS = 15


class Command(BaseCommand):
    help = "Run OpsKnight (web + worker) with demo data, as `make run` does."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--no-demo", action="store_true", help="Do not load demo data.")
        parser.add_argument("--worker-concurrency", type=int, default=4)

    def handle(self, *args: Any, **options: Any) -> None:
        host, port = options["host"], options["port"]
        self._check_database()
        self._check_port_free(host, port)
        self.stdout.write("Applying migrations…")
        call_command("migrate", interactive=False, verbosity=0)
        demo = None
        if not options["no_demo"]:
            try:
                login = seed_demo()
            except DemoRefusedError as exc:
                raise CommandError(f"{exc}; run with --no-demo") from exc
            demo = login

        # Handlers first: a Ctrl-C (or a closed terminal) at any moment from here on stops the
        # children, which run in their own session and would not hear it themselves.
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, lambda *_: stop.set())
        self._output_lock = threading.Lock()
        children: dict[str, subprocess.Popen[bytes]] = {}
        relays: list[threading.Thread] = []
        exit_code = 0
        web = [sys.executable, "-m", "daphne", "-b", host, "-p", str(port)]
        worker = [sys.executable, "manage.py", "procrastinate", "worker"]
        try:
            children["web"] = self._spawn("web", [*web, "opsknight.asgi:application"], relays)
            children["worker"] = self._spawn(
                "worker", [*worker, "--concurrency", str(options["worker_concurrency"])], relays
            )
            shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host  # noqa: S104
            url = f"http://{shown}:{port}"
            if self._wait_until_up(url, children, stop):
                self._banner(url, demo)
            exit_code = self._supervise(children, stop)
        finally:
            self._stop_all(children)
            for relay in relays:
                relay.join(timeout=5)
        if exit_code:
            raise CommandError(f"a process exited unexpectedly (code {exit_code}); stopped all.")
        self.stdout.write("OpsKnight stopped.")

    def _check_database(self) -> None:
        try:
            connection.ensure_connection()
        except OperationalError as exc:
            where = (
                "the embedded PostgreSQL"
                if getattr(settings, "EMBEDDED_DATABASE", False)
                else "DATABASE_URL"
            )
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise CommandError(f"cannot reach the database ({where}): {first_line}") from exc

    def _check_port_free(self, host: str, port: int) -> None:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                raise CommandError(
                    f"cannot listen on {host}:{port}: {exc.strerror}. Another program is using "
                    f"the port; stop it or choose another, e.g. `PORT={port + 1} make run`."
                ) from exc

    def _spawn(
        self, name: str, argv: list[str], relays: list[threading.Thread]
    ) -> subprocess.Popen[bytes]:
        # Own session: a Ctrl-C reaches only us, and we stop the children in order.
        process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=settings.BASE_DIR,
        )
        relay = threading.Thread(
            target=self._relay, args=(name, process.stdout), daemon=True, name=f"relay-{name}"
        )
        relay.start()
        relays.append(relay)
        return process

    def _relay(self, name: str, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace").rstrip()
            with self._output_lock:
                self.stdout.write(f"{name:<6} | {line}")
                self.stdout.flush()

    def _wait_until_up(
        self, url: str, children: dict[str, subprocess.Popen[bytes]], stop: threading.Event
    ) -> bool:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not stop.is_set():
            if any(p.poll() is not None for p in children.values()):
                return False
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=1):  # noqa: S310
                    return True
            except OSError:
                time.sleep(0.2)
        return False

    def _banner(self, url: str, demo: DemoLogin | None) -> None:
        lines = ["", "=" * 64, f"  OpsKnight is running at {url}/", f"  Admin:  {url}/admin/"]
        if demo is not None:
            lines.append(f"  Login:  {demo.email}  /  {demo.password}  ({demo.organization})")
            lines += ["", "  Trigger a demo incident:", f"  {demo.curl(url)}"]
        lines += [f"  Health: {url}/readyz", "  Stop:   Ctrl-C", "=" * 64, ""]
        with self._output_lock:
            self.stdout.write("\n".join(lines))

    def _supervise(
        self, children: dict[str, subprocess.Popen[bytes]], stop: threading.Event
    ) -> int:
        while not stop.wait(0.3):
            for name, process in children.items():
                code = process.poll()
                if code is not None:
                    self.stderr.write(f"{name} exited with code {code}; stopping the rest.")
                    return code or 1
        return 0

    def _stop_all(self, children: dict[str, subprocess.Popen[bytes]]) -> None:
        for process in children.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for process in children.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
