"""The SSRF guard on organizations' URLs: refused when saved, refused again when sent, and the
connection made to the vetted address with TLS still checking the host name."""

from __future__ import annotations

import ssl

import pytest
from django.core.exceptions import ValidationError

from notifications.models import (
    OutboundDelivery,
    OutboundDestination,
    OutboundKind,
    OutboundStatus,
)
from notifications.outbound import guard, sender
from notifications.outbound.services import POST_OUTBOUND, outbound_destination_create
from tests.escalation.factories import queued
from tests.incidents.factories import make_service, trigger
from tests.notifications.conftest import Receiver, post_due_outbound
from tests.processes import self_signed_certificate, serving

pytestmark = pytest.mark.django_db

REFUSED = [
    ("https://127.0.0.1/hook", "127.0.0.1 resolves to a private or reserved address"),
    ("https://10.1.2.3/hook", "10.1.2.3 resolves to a private or reserved address"),
    ("https://192.168.0.10/hook", "192.168.0.10 resolves to a private or reserved address"),
    (
        "https://169.254.169.254/latest/meta-data/",
        "169.254.169.254 resolves to a private or reserved address",
    ),
    ("https://[::1]/hook", "::1 resolves to a private or reserved address"),
    (
        "https://[::ffff:127.0.0.1]/hook",
        "::ffff:127.0.0.1 resolves to a private or reserved address",
    ),
    ("https://[fe80::1]/hook", "fe80::1 resolves to a private or reserved address"),
    ("https://0.0.0.0/hook", "0.0.0.0 resolves to a private or reserved address"),
    ("https://100.64.0.1/hook", "100.64.0.1 resolves to a private or reserved address"),
    ("https://224.0.0.1/hook", "224.0.0.1 resolves to a private or reserved address"),
    ("https://240.0.0.1/hook", "240.0.0.1 resolves to a private or reserved address"),
    ("https://localhost/hook", "localhost resolves to a private or reserved address"),
    ("http://93.184.215.14/hook", "only https:// URLs are allowed"),
    ("ftp://93.184.215.14/hook", "only https:// URLs are allowed"),
    ("https://user:pw@93.184.215.14/hook", "credentials in the URL's host part are not allowed"),
    ("https:///hook", "the URL has no host"),
]


@pytest.fixture
def strict(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    settings.BASE_URL = "https://oncall.example.com"
    return settings


@pytest.mark.parametrize(("url", "why"), REFUSED)
def test_the_guard_refuses_private_addresses_and_plain_http(strict, url, why):
    with pytest.raises(guard.RefusedURL) as refused:
        guard.vet(url)
    assert str(refused.value) == why


def test_the_guard_passes_a_public_https_address(strict):
    vetted = guard.vet("https://93.184.215.14:8443/hooks/1?x=1")
    assert (vetted.hostname, vetted.port, vetted.addresses) == (
        "93.184.215.14",
        8443,
        ("93.184.215.14",),
    )


def test_the_setting_allows_loopback_and_http(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    assert guard.vet("http://127.0.0.1:8080/hook").addresses == ("127.0.0.1",)
    assert guard.vet("https://[::1]/hook").addresses == ("::1",)


@pytest.mark.parametrize(
    ("kind", "fields", "field"),
    [
        (OutboundKind.WEBHOOK, {"url": "https://10.0.0.5/hook", "secret": "s"}, "url"),
        (OutboundKind.WEBHOOK, {"url": "http://93.184.215.14/hook", "secret": "s"}, "url"),
        (
            OutboundKind.DISCORD,
            {"secret": "https://169.254.169.254/api/webhooks/1/t"},
            "secret_encrypted",
        ),
        (OutboundKind.TEAMS, {"secret": "https://127.0.0.1/webhookb2/x"}, "secret_encrypted"),
        (
            OutboundKind.GOOGLE_CHAT,
            {"secret": "https://[::1]/v1/spaces/A/messages"},
            "secret_encrypted",
        ),
    ],
)
def test_a_destination_with_a_private_url_cannot_be_saved(strict, org, kind, fields, field):
    with pytest.raises(ValidationError) as refused:
        outbound_destination_create(organization=org, name="hook", kind=kind, **fields)
    assert list(refused.value.message_dict) == [field]
    assert not OutboundDestination.objects.exists()


def test_a_public_url_can_be_saved(strict, org):
    destination = outbound_destination_create(
        organization=org,
        name="hook",
        kind=OutboundKind.DISCORD,
        secret="https://93.184.215.14/api/webhooks/1/token",
    )
    assert destination.pk is not None
    assert destination.secret() == "https://93.184.215.14/api/webhooks/1/token"


def test_a_destination_saved_while_allowed_is_refused_at_send_time(settings, org):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    with serving(Receiver()) as server:
        outbound_destination_create(
            organization=org, name="hook", kind=OutboundKind.WEBHOOK, url=server.url(), secret="s"
        )
        trigger(make_service(org))
        settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False

        post_due_outbound()

        delivery = OutboundDelivery.objects.get()
        assert (delivery.status, delivery.attempts) == (OutboundStatus.FAILED, 1)
        assert delivery.last_error == "destination refused: only https:// URLs are allowed"
        assert server.posts == []
        assert queued(POST_OUTBOUND) == []


def test_an_https_destination_on_a_private_address_is_refused_at_send_time(settings, org):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    outbound_destination_create(
        organization=org,
        name="hook",
        kind=OutboundKind.TEAMS,
        secret="https://127.0.0.1:9/webhookb2/secret",
    )
    trigger(make_service(org))
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False

    post_due_outbound()

    delivery = OutboundDelivery.objects.get()
    assert delivery.status == OutboundStatus.FAILED
    assert delivery.last_error == (
        "destination refused: 127.0.0.1 resolves to a private or reserved address"
    )


@pytest.fixture
def tls_receiver(settings, tmp_path):
    """An https endpoint with a certificate for "localhost" (and 127.0.0.1), on 127.0.0.1."""
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    cert, key = self_signed_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with serving(Receiver(tls=context)) as server:
        server.cafile = str(cert)
        yield server


def test_https_goes_to_the_vetted_address_with_the_host_name_in_sni_and_host(tls_receiver):
    url = tls_receiver.url("/hook", host="localhost")

    result = sender.post(sender.HttpPost(url=url, body=b"{}"), verify=tls_receiver.cafile)

    assert result.status_code == 200
    [post] = tls_receiver.posts
    assert post.path == "/hook"
    assert post.headers["Host"] == f"localhost:{tls_receiver.port}"
    # SNI named the host, not the IP the connection was pinned to: the certificate was
    # checked against "localhost" (it would not verify otherwise, see the next test).
    assert "localhost" in tls_receiver.server_names


def test_https_with_a_certificate_we_do_not_trust_is_refused_and_retried(tls_receiver):
    url = tls_receiver.url("/hook", host="localhost")

    with pytest.raises(sender.SendError) as failed:
        sender.post(sender.HttpPost(url=url, body=b"{}"))

    assert str(failed.value) == "TLS with localhost failed: certificate or handshake"
    assert failed.value.permanent is False
    assert tls_receiver.posts == []
