"""Helpers for tests that run OpsKnight's real processes (daphne, workers, manage.py)."""

from __future__ import annotations

import os
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
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


def wait_for_https(
    url: str, process: subprocess.Popen[str], cafile: Path, timeout: float = 30
) -> None:
    context = ssl.create_default_context(cafile=str(cafile))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"process exited with {process.returncode}:\n{output(process)}")
        try:
            with urllib.request.urlopen(url, timeout=1, context=context):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout}s")


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


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost/127.0.0.1 and its PKCS#8 key, for TLS tests on loopback."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def granian(port: int, *, workers: int = 1, tls: tuple[Path, Path] | None = None) -> list[str]:
    """The production HTTP server (WSGI) as deploy/ runs it."""
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
    ]
    if tls:
        argv += ["--ssl-certificate", str(tls[0]), "--ssl-keyfile", str(tls[1])]
    return [*argv, "opsknight.wsgi:application"]


@contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[socketserver.BaseServer]:
    """Serve a loopback stand-in (a provider's API, a monitor) on a thread for the block."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
