"""The outbound destinations admin: secrets are write-only, delivery records read-only."""

from __future__ import annotations

import pytest
from django.test import Client

from notifications.models import OutboundDelivery, OutboundDestination, OutboundKind
from tests.incidents.factories import make_service, trigger
from tests.opsknight.factories import UserFactory

pytestmark = pytest.mark.django_db

DESTINATIONS = "/admin/notifications/outbounddestination/"
DELIVERIES = "/admin/notifications/outbounddelivery/"
SECRET = "https://93.184.215.14/api/webhooks/1/very-secret-token-value"


@pytest.fixture
def operator_client(client: Client) -> Client:
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def form(org, **fields) -> dict:
    return {
        "organization": org.pk,
        "name": "Ops channel",
        "kind": OutboundKind.DISCORD,
        "url": "",
        "channel_id": "",
        "new_secret": "",
        "events": ["triggered", "resolved"],
        "enabled": "on",
        **fields,
    }


def test_a_secret_is_taken_encrypted_and_never_shown_again(operator_client, org, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    response = operator_client.post(DESTINATIONS + "add/", form(org, new_secret=SECRET))
    assert response.status_code == 302, response.context["adminform"].form.errors

    destination = OutboundDestination.objects.get()
    assert destination.secret() == SECRET
    assert "very-secret-token-value" not in destination.secret_encrypted
    page = operator_client.get(f"{DESTINATIONS}{destination.pk}/change/").content.decode()
    assert "very-secret-token-value" not in page
    assert destination.secret_encrypted not in page
    assert 'alt="True"' in page  # "Secret set"

    # Saved again without a new value: the stored secret stays.
    response = operator_client.post(
        f"{DESTINATIONS}{destination.pk}/change/", form(org, name="Renamed")
    )
    assert response.status_code == 302
    destination.refresh_from_db()
    assert (destination.name, destination.secret()) == ("Renamed", SECRET)


def test_a_private_webhook_url_is_refused_beside_the_secret_input(operator_client, org, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    response = operator_client.post(
        DESTINATIONS + "add/", form(org, new_secret="https://169.254.169.254/latest/meta-data/")
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["new_secret"] == [
        "Webhook URL: 169.254.169.254 resolves to a private or reserved address"
    ]
    assert not OutboundDestination.objects.exists()
    assert "/latest/meta-data/" not in response.content.decode()  # the input is not re-rendered


def test_delivery_records_are_read_only(operator_client, org, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    operator_client.post(DESTINATIONS + "add/", form(org, new_secret=SECRET))
    trigger(make_service(org))
    delivery = OutboundDelivery.objects.get()

    assert operator_client.get(DELIVERIES).status_code == 200
    assert operator_client.get(f"{DELIVERIES}{delivery.pk}/change/").status_code == 200
    assert operator_client.get(DELIVERIES + "add/").status_code == 403
    response = operator_client.post(f"{DELIVERIES}{delivery.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert OutboundDelivery.objects.filter(pk=delivery.pk).exists()
