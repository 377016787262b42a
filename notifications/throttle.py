"""Layered throttles per address, so an alert storm becomes a digest instead of 500 texts.

After GoAlert's rate limits: each channel has a few (window, most messages) layers, and an
address (a phone number, an inbox) gets no more than any layer allows. Below the limits each
page goes alone (an SMS names its own incident, which a reply acknowledges). The page that
takes a layer's last slot carries every other page due to that address in the same message
("and 11 more incidents on Checkout API"); pages over the limit wait, PENDING, until the
oldest send leaves the window, and the first of them to go then carries all the others. Only
pages are throttled: a verification code or a test must go at once.

Counting and holding happen under a transaction-scoped advisory lock per address, so two
workers cannot both take the last slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection

from notifications.models import Channel, Notification

MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)


@dataclass(frozen=True)
class Layer:
    window: timedelta
    most: int

    def __str__(self) -> str:
        minutes = int(self.window.total_seconds() // 60)
        span = f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"
        return f"{self.most} per {span}"


_PHONE_TEXT = (Layer(15 * MINUTE, 5), Layer(HOUR, 11), Layer(3 * HOUR, 21))
LAYERS: dict[str, tuple[Layer, ...]] = {
    Channel.SMS: _PHONE_TEXT,
    Channel.WHATSAPP: _PHONE_TEXT,
    # A phone takes one call at a time, and a call every minute is already a lot.
    Channel.VOICE: (Layer(MINUTE, 1), Layer(15 * MINUTE, 3), Layer(HOUR, 7), Layer(3 * HOUR, 15)),
    Channel.EMAIL: (Layer(MINUTE, 10), Layer(15 * MINUTE, 30), Layer(HOUR, 60)),
    Channel.PUSH: (Layer(MINUTE, 10), Layer(15 * MINUTE, 30)),
    Channel.SLACK: (Layer(MINUTE, 10), Layer(15 * MINUTE, 30)),
}


HELD = "held by the "  # how a held page's error begins: it carries the others when it goes


@dataclass(frozen=True)
class Hold:
    until: datetime
    layer: Layer


@dataclass(frozen=True)
class Verdict:
    hold: Hold | None  # not now: wait until then
    last_slot: bool  # it may go, but fills a layer: what else is due must ride along


def address_lock(channel: str, address: str) -> None:
    """Serialize throttle decisions for one address until the transaction ends."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 7))", [f"{channel}:{address}"]
        )


def verdict(channel: str, address: str, now: datetime) -> Verdict:
    """May a message to this address leave now (call under address_lock)?"""
    layers = LAYERS.get(channel, ())
    if not layers:
        return Verdict(None, False)
    widest = max(layer.window for layer in layers)
    sent = sorted(
        Notification.objects.filter(
            channel=channel, address=address, last_attempt_at__gt=now - widest
        ).values_list("last_attempt_at", flat=True)
    )
    hold: Hold | None = None
    last_slot = False
    for layer in layers:
        inside = [t for t in sent if t > now - layer.window]
        if len(inside) >= layer.most:
            # The slot frees when enough of the oldest sends have left the window.
            until = inside[len(inside) - layer.most] + layer.window
            if hold is None or until > hold.until:
                hold = Hold(until, layer)
        last_slot = last_slot or len(inside) + 1 >= layer.most
    return Verdict(hold, last_slot)


def hold_for(channel: str, address: str, now: datetime) -> Hold | None:
    return verdict(channel, address, now).hold
