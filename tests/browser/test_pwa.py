"""The installable app in a real browser: signing in, the service worker taking the page, the
offline shell, and a push message shown as a notification with Acknowledge and Open."""

from __future__ import annotations

import json

import pytest

from tests.browser.conftest import person_who_signs_in, sign_in, until
from tests.opsknight.factories import OrganizationFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def person():
    return person_who_signs_in(OrganizationFactory())


def controlled(page) -> None:
    """Wait until the service worker is active and controls the page."""
    page.evaluate("navigator.serviceWorker.ready")
    if not page.evaluate("Boolean(navigator.serviceWorker.controller)"):
        page.reload()
    until(page, "Boolean(navigator.serviceWorker.controller)")


def test_sign_in_and_the_service_worker_takes_the_page(context, site, person):
    page = context.new_page()
    sign_in(page, site, person)
    assert page.locator("h1").inner_text().startswith("Welcome")
    manifest = page.evaluate(
        "fetch(document.querySelector('link[rel=manifest]').href).then(r => r.json())"
    )
    assert (manifest["start_url"], manifest["display"]) == ("/incidents/", "standalone")
    controlled(page)
    scope = page.evaluate("navigator.serviceWorker.ready.then(r => r.scope)")
    assert scope == f"{site}/"


def test_offline_the_last_seen_incident_list_and_the_offline_shell_are_shown(context, site, person):
    page = context.new_page()
    sign_in(page, site, person)
    controlled(page)
    page.goto(f"{site}/incidents/")
    seen = page.locator("h1").inner_text()
    context.set_offline(True)
    page.goto(f"{site}/incidents/")
    assert page.locator("h1").inner_text() == seen
    page.goto(f"{site}/notifications/profile/")
    assert page.locator("h1").inner_text() == "You are offline"
    context.set_offline(False)


def test_a_push_message_becomes_a_notification_with_acknowledge_and_open(context, site, person):
    context.grant_permissions(["notifications"], origin=site)
    page = context.new_page()
    sign_in(page, site, person)
    controlled(page)
    cdp = context.new_cdp_session(page)
    registrations: list[dict] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda e: registrations.extend(e["registrations"]),
    )
    cdp.send("ServiceWorker.enable")
    page.wait_for_timeout(200)
    [registration] = [
        r for r in registrations if r["scopeURL"] == f"{site}/" and not r["isDeleted"]
    ]
    payload = {
        "title": "#12 Checkout down",
        "body": "Checkout API · high · level 1",
        "url": f"{site}/incidents/12/",
        "ack_url": f"{site}/notifications/ack/token/",
        "tag": "incident-12",
    }
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {
            "origin": site,
            "registrationId": registration["registrationId"],
            "data": json.dumps(payload),
        },
    )
    shown = until(  # the push event runs in the worker: poll what it showed
        page,
        """navigator.serviceWorker.ready
             .then(r => r.getNotifications())
             .then(list => list.map(n => ({
                 title: n.title, body: n.body, tag: n.tag, data: n.data,
                 actions: n.actions.map(a => a.action)})))
             .then(list => list.length ? list : null)""",
    )
    assert shown == [
        {
            "title": "#12 Checkout down",
            "body": "Checkout API · high · level 1",
            "tag": "incident-12",
            "data": {"url": payload["url"], "ack_url": payload["ack_url"]},
            "actions": ["ack", "open"],
        }
    ]
