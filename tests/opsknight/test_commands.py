"""The operator's commands: clear messages for bad configuration, and `runall` end to end."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import sys
import time
import urllib.error
import urllib.request

import pytest

from oncall.selectors import oncall_users_at
from opsknight.models import Organization, User
from tests.processes import free_port, manage, output, running

PROD_KEY = "a-long-random-production-secret-key-0123456789-abcdefgh"


def _assert_clean_error(result, *phrases: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr


@pytest.mark.django_db
def test_production_without_secret_key_says_so():
    result = manage("check", OPSKNIGHT_ENV="production", SECRET_KEY="")
    assert result.returncode == 2
    _assert_clean_error(result, "configuration error", "SECRET_KEY is required")


@pytest.mark.django_db
def test_production_with_a_short_secret_key_says_so():
    result = manage("check", OPSKNIGHT_ENV="production", SECRET_KEY="short")
    _assert_clean_error(result, "SECRET_KEY must be at least 50 characters")


@pytest.mark.django_db
def test_production_without_database_url_says_so():
    result = manage("check", OPSKNIGHT_ENV="production", SECRET_KEY=PROD_KEY, DATABASE_URL="")
    _assert_clean_error(result, "DATABASE_URL is required")


@pytest.mark.django_db
def test_unknown_mode_says_so():
    result = manage("check", OPSKNIGHT_ENV="staging")
    _assert_clean_error(result, "OPSKNIGHT_ENV must be 'development' or 'production'")


@pytest.mark.django_db
def test_production_settings_pass_djangos_deployment_checklist():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        OPSKNIGHT_ENV="production",
        SECRET_KEY=PROD_KEY,
        ALLOWED_HOSTS="oncall.example.com",
        BASE_URL="https://oncall.example.com",
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.django_db
def test_unreachable_database_says_so():
    result = manage("runall", "--no-demo", DATABASE_URL="postgres://u:p@127.0.0.1:1/nowhere")
    _assert_clean_error(result, "cannot reach the database (DATABASE_URL)")


@pytest.mark.django_db
def test_port_in_use_says_so():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = manage("runall", "--no-demo", "--port", str(port))
    _assert_clean_error(result, f"cannot listen on 127.0.0.1:{port}", f"PORT={port + 1}")


@pytest.mark.django_db
def test_demo_data_is_refused_in_production():
    result = manage(
        "seed_demo",
        OPSKNIGHT_ENV="production",
        SECRET_KEY=PROD_KEY,
        ALLOWED_HOSTS="oncall.example.com",
    )
    _assert_clean_error(result, "demo data is for development")
    assert not User.objects.filter(email="admin@example.com").exists()


@pytest.mark.django_db(transaction=True)
def test_seed_demo_is_idempotent_and_prints_a_working_login(tmp_path):
    first = manage("seed_demo", OPSKNIGHT_DATA_DIR=str(tmp_path))
    second = manage("seed_demo", OPSKNIGHT_DATA_DIR=str(tmp_path))
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    login_line = next(line for line in first.stdout.splitlines() if line.startswith("Login:"))
    email, password = login_line.removeprefix("Login: ").split(" / ")
    user = User.objects.get(email=email)
    assert user.check_password(password)
    assert user.is_superuser
    org = Organization.objects.get(slug="acme")
    assert org.memberships.count() == 5
    assert org.teams.get().name == "Platform"
    assert org.services.get().name == "Checkout API"
    schedule = org.schedules.get()
    assert schedule.layers.count() == 2
    assert len(oncall_users_at(schedule)) == 1  # somebody is on call the moment the demo starts


def _get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.django_db(transaction=True)
def test_runall_serves_web_and_worker_and_stops_both_on_ctrl_c(tmp_path):
    port = free_port()
    argv = [sys.executable, "manage.py", "runall", "--port", str(port)]
    with running(argv, OPSKNIGHT_DATA_DIR=str(tmp_path)) as process:
        deadline, status, body = time.monotonic() + 60, 0, {}
        while time.monotonic() < deadline and status != 200:
            assert process.poll() is None, output(process)
            with contextlib.suppress(OSError):
                status, body = _get_json(f"http://127.0.0.1:{port}/readyz")
            time.sleep(0.3)
        assert status == 200, body
        assert body["checks"]["worker"]["alive"] == 1
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/") as page:
            assert b"Sign In" in page.read()

        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    log = process.final_output
    assert process.returncode == 0, log
    assert f"OpsKnight is running at http://localhost:{port}/" in log
    assert "Login:  admin@example.com  /  " in log
    assert "web    | " in log
    assert "worker | " in log
    assert log.rstrip().endswith("OpsKnight stopped.")
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
