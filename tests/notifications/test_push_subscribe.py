"""The installable app's endpoints (manifest, service worker, offline page) and a browser
handing over its push subscription: kept as a verified push method, bad input refused."""

from __future__ import annotations

import base64
import json

import pytest
from django.test import Client

from notifications.models import Channel, ContactMethod
from tests.oncall.factories import people

pytestmark = pytest.mark.django_db

URL = "/notifications/push/subscribe/"
P256DH = base64.urlsafe_b64encode(b"\x04" + b"k" * 64).rstrip(b"=").decode()
AUTH = base64.urlsafe_b64encode(b"a" * 16).rstrip(b"=").decode()
ENDPOINT = "https://fcm.googleapis.com/fcm/send/abc123"


def subscribe(client, subscription, **extra):
    return client.post(
        URL, json.dumps({"subscription": subscription, **extra}), content_type="application/json"
    )


@pytest.fixture
def signed_in(client, org):
    person = people(org, 1)[0]
    client.force_login(person)
    return client, person


def test_a_subscription_becomes_a_verified_push_method_and_updates_in_place(signed_in):
    client, person = signed_in
    response = subscribe(client, {"endpoint": ENDPOINT, "keys": {"p256dh": P256DH, "auth": AUTH}})
    assert response.status_code == 200
    assert response.json()["message"] == "This browser will receive pages."
    method = ContactMethod.objects.get(user=person, channel=Channel.PUSH)
    assert (method.address, method.keys) == (ENDPOINT, {"p256dh": P256DH, "auth": AUTH})
    assert method.verified_at is not None
    other_auth = base64.urlsafe_b64encode(b"b" * 16).rstrip(b"=").decode()
    subscribe(client, {"endpoint": ENDPOINT, "keys": {"p256dh": P256DH, "auth": other_auth}})
    method.refresh_from_db()
    assert method.keys["auth"] == other_auth
    assert ContactMethod.objects.filter(channel=Channel.PUSH).count() == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"endpoint": "http://push.example.com/x", "keys": {"p256dh": P256DH, "auth": AUTH}},
            "must be an https:// URL",
        ),
        ({"endpoint": ENDPOINT, "keys": {"p256dh": P256DH}}, "keys.auth is missing"),
        ({"endpoint": ENDPOINT, "keys": {"p256dh": AUTH, "auth": AUTH}}, "must be 65 bytes"),
        ({"endpoint": ENDPOINT, "keys": {"p256dh": "!!!", "auth": AUTH}}, "not base64url"),
        ({"endpoint": ENDPOINT, "keys": "nope"}, "has no keys"),
        ({"endpoint": 7, "keys": {}}, "must be a URL"),
    ],
)
def test_a_bad_subscription_is_refused_with_its_reason_and_nothing_kept(signed_in, body, message):
    client, _ = signed_in
    response = subscribe(client, body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_subscription"
    assert message in response.json()["message"]
    assert not ContactMethod.objects.filter(channel=Channel.PUSH).exists()


@pytest.mark.parametrize("raw", ["not json", "[]", '{"subscription": 5}', "{}"])
def test_malformed_json_is_refused(signed_in, raw):
    client, _ = signed_in
    response = client.post(URL, raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json"


def test_anonymous_and_cross_site_posts_keep_nothing(org):
    assert subscribe(Client(), {"endpoint": ENDPOINT}).status_code == 302  # to the login page
    person = people(org, 1)[0]
    forged = Client(enforce_csrf_checks=True)
    forged.force_login(person)
    response = subscribe(forged, {"endpoint": ENDPOINT, "keys": {"p256dh": P256DH, "auth": AUTH}})
    assert response.status_code == 403
    assert not ContactMethod.objects.filter(channel=Channel.PUSH).exists()


def test_the_manifest_the_service_worker_and_the_offline_page(client):
    manifest = client.get("/manifest.webmanifest")
    assert manifest["Content-Type"] == "application/manifest+json"
    body = manifest.json()
    assert (body["start_url"], body["scope"], body["display"]) == ("/incidents/", "/", "standalone")
    assert {icon["sizes"] for icon in body["icons"]} == {"192x192", "512x512"}
    worker = client.get("/sw.js")
    assert worker["Content-Type"] == "application/javascript"
    assert worker["Service-Worker-Allowed"] == "/"
    assert "no-cache" in worker["Cache-Control"]
    assert b'addEventListener("push"' in worker.content
    offline = client.get("/offline/")
    assert offline.status_code == 200
    assert b"You are offline" in offline.content


def test_the_profile_page_offers_push_only_when_it_is_configured(signed_in, settings):
    client, _ = signed_in
    settings.VAPID_PUBLIC_KEY = ""
    assert b"Web push is not configured here" in client.get("/notifications/profile/").content
    settings.VAPID_PUBLIC_KEY = "BPublicKey"
    page = client.get("/notifications/profile/").content.decode()
    assert 'data-vapid-key="BPublicKey"' in page
    assert 'id="push-subscribe"' in page
