"""Browser tests: Playwright for Python driving Debian's chromium (Playwright's own browser
download does not work here) against daphne serving the test database, as production serves.

Without /usr/bin/chromium they are skipped, and the run's summary says so in capitals: CI
installs chromium (.ci/run), so there they always run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.hashers import make_password

from opsknight.models import Role, User
from tests.opsknight.factories import PASSWORD, member
from tests.processes import daphne, free_port, running, wait_for_http

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
_not_run: list[str] = []


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if _not_run:
        terminalreporter.write_sep("!", "BROWSER TESTS WERE NOT RUN", red=True, bold=True)
        terminalreporter.write_line(f"Every test in tests/browser/ was skipped: {_not_run[0]}")


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    """One browser per module. Playwright's sync API keeps an event loop running in this
    thread while it lives, so it must stop before other modules' asyncio tests run; and Django
    takes that loop for an async context, so its guard is lifted for these tests only (their
    own database calls are ordinary synchronous ones)."""
    if not os.access(CHROMIUM, os.X_OK):
        reason = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"
        _not_run.append(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            yield browser
            browser.close()
    finally:
        if before is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


@pytest.fixture(scope="module")
def site(django_db_setup, django_db_blocker) -> Iterator[str]:
    """daphne on the test database; the tests commit what it must see (transactional_db)."""
    port = free_port()
    # Django's async-safety guard stays on in the server (chromium lifts it for this process).
    with running(daphne(port), DJANGO_ALLOW_ASYNC_UNSAFE="") as process:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", process)
        yield f"http://localhost:{port}"


ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", Path(__file__).parents[2] / "test-artifacts"))


@pytest.fixture
def screenshot():
    """Save the page at desktop and phone widths under test-artifacts/screenshots/."""
    folder = ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> None:
        for label, width in (("desktop", 1280), ("phone", 375)):
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=folder / f"{name}-{label}.png", full_page=True)

    return take


def person_who_signs_in(org, role: Role = Role.RESPONDER) -> User:
    """A member whose password the server (another process, production settings) can check:
    the tests' own fast hasher is not among its hashers."""
    user = member(org, role)
    user.password = make_password(PASSWORD, hasher="pbkdf2_sha256")
    user.save(update_fields=["password"])
    return user


def sign_in(page, site: str, user: User) -> None:
    """Through the real login form."""
    page.goto(f"{site}/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{site}/")


def until(page, expression: str, timeout: float = 10) -> object:
    """Poll a JavaScript expression (awaited) until it is truthy. Not page.wait_for_function:
    that evaluates strings with eval() in the page, which our CSP (rightly) forbids."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout:g} s: {expression}")
        page.wait_for_timeout(100)


@pytest.fixture
def context(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    yield context
    context.close()
