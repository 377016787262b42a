"""Live updates in the browser: an incident triggered through the PagerDuty endpoint appears on
an open incident list without a reload; an acknowledgement and a resolution with a note made in
a second browser show on the first one's incident page."""

from __future__ import annotations

import json
import urllib.request

import pytest

from integrations.services import integration_create
from tests.browser.conftest import person_who_signs_in, sign_in, until
from tests.incidents.factories import make_service
from tests.opsknight.factories import OrganizationFactory

pytestmark = pytest.mark.django_db(transaction=True)


def live(page) -> None:
    until(page, "document.documentElement.dataset.live === 'on'")


def trigger(site: str, key: str, summary: str) -> dict:
    body = {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": summary,
        "payload": {"summary": summary, "source": "db-1", "severity": "critical"},
    }
    request = urllib.request.Request(
        f"{site}/v2/enqueue",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202
        return json.loads(response.read())


def test_a_new_incident_and_an_acknowledgement_appear_live_in_both_browsers(
    chromium, site, screenshot
):
    org = OrganizationFactory()
    alice, bob = person_who_signs_in(org), person_who_signs_in(org)
    service = make_service(org, name="Checkout API")
    key = integration_create(service=service, kind="pagerduty", name="pd").key

    watching = chromium.new_context()
    acting = chromium.new_context()
    try:
        page = watching.new_page()
        sign_in(page, site, alice)
        page.goto(f"{site}/incidents/")
        live(page)
        assert page.locator("#incident-list").inner_text().count("Checkout down") == 0

        trigger(site, key, "Checkout down")
        row = page.locator("#incident-list tr", has_text="Checkout down")
        row.wait_for(timeout=5_000)  # no reload: the websocket said so
        assert "Triggered" in row.inner_text()

        other = acting.new_page()
        sign_in(other, site, bob)
        other.goto(f"{site}/incidents/")
        other.click("#incident-list a:has-text('Checkout down')")
        incident_url = other.url
        page.goto(incident_url)
        live(page)
        other.click("button:has-text('Acknowledge')")
        page.locator("#incident-head .badge", has_text="Acknowledged").wait_for(timeout=5_000)
        assert f"Acknowledged by {bob.email}" in page.locator("#incident-head").inner_text()
        screenshot(page, "incident")

        other.fill("#id_resolve_note", "Rolled back the 14:02 deploy")
        other.click("button:has-text('Resolve')")
        page.locator("#incident-head .badge", has_text="Resolved").wait_for(timeout=5_000)
        page.reload()
        assert "Rolled back the 14:02 deploy" in page.inner_text("main")
        page.goto(f"{site}/incidents/")
        screenshot(page, "incident-list")
        for path in ("/incidents/", incident_url.removeprefix(site), "/notifications/profile/"):
            page.set_viewport_size({"width": 375, "height": 800})
            page.goto(f"{site}{path}")
            widths = page.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
            assert widths[0] <= widths[1], f"{path} scrolls sideways at 375 px: {widths}"
    finally:
        watching.close()
        acting.close()
