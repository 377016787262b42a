"""Answers to pages by phone: text replies (what they say, which page they answer), and the
page a voice call's keypress is about.

A reply names the incident by its number, as the page did: `12a` / `12r`, or `ACK 12` /
`RES 12`; a bare `a` / `r` answers the latest page sent to that phone. STOP and START follow
the carriers' opt-out words. Who replies is the person whose verified number it came from;
which incident is the one they were paged about by SMS with that number (numbers are per
organization, so only a page proves which one is meant).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone

from incidents.models import Incident
from notifications.models import Channel, ContactMethod, Notification

STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
START_WORDS = {"START", "UNSTOP", "YES"}
_SHORT = re.compile(r"^\s*(\d{1,12})?\s*([ar])\s*$", re.IGNORECASE)
_LONG = re.compile(r"^\s*(ACK|ACKNOWLEDGE|RES|RESOLVE)\s*#?\s*(\d{1,12})?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Reply:
    action: str  # "acknowledge", "resolve", "stop", "start"
    number: int | None = None


def parse_reply(text: str) -> Reply | None:
    word = text.strip().upper()
    if word in STOP_WORDS:
        return Reply("stop")
    if word in START_WORDS:
        return Reply("start")
    if match := _SHORT.match(text):
        number, letter = match.groups()
        action = "acknowledge" if letter.lower() == "a" else "resolve"
        return Reply(action, int(number) if number else None)
    if match := _LONG.match(text):
        verb, number = match.groups()
        action = "acknowledge" if verb.upper().startswith("ACK") else "resolve"
        return Reply(action, int(number) if number else None)
    return None


def sms_methods(phone: str) -> QuerySet[ContactMethod]:
    return ContactMethod.objects.filter(
        channel=Channel.SMS, address=phone, verified_at__isnull=False
    ).select_related("user")


def paged_incident(phone: str, number: int | None) -> tuple[Incident, int] | None:
    """The incident (and the person) an SMS page to `phone` was about: the latest such page,
    or the latest one with incident `number`."""
    pages = Notification.objects.filter(
        channel=Channel.SMS, address=phone, contact_method__verified_at__isnull=False
    ).select_related("incident")
    if number is not None:
        pages = pages.filter(incident__number=number)
    page = pages.order_by("-created_at", "-id").first()
    return (page.incident, page.user_id) if page is not None else None


def sms_opt_out(phone: str, *, stop: bool) -> int:
    """STOP: no more texts to this number; START: texts again. Returns the methods changed."""
    return sms_methods(phone).update(opted_out_at=timezone.now() if stop else None)


def voice_page(*, notification_id: int, call_sid: str, called: str) -> Notification | None:
    """The voice page a keypress answers: the call must be the one placed for that delivery
    (its CallSid; or, if the worker died before recording the sid, the number called)."""
    page = (
        Notification.objects.filter(pk=notification_id, channel=Channel.VOICE)
        .select_related("incident", "user")
        .first()
    )
    if page is None or page.incident is None:
        return None
    if page.provider_message_id:
        return page if call_sid and page.provider_message_id == call_sid else None
    return page if called and page.address == called else None
