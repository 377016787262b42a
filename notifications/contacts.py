"""Writes of a person's own notification settings: contact methods, proving them, test
messages, and the personal rules that say which method is used when.

Everything here acts on one person's own rows; views find the rows through the owner-scoped
selectors (another person's method is a 404) before calling in. Codes and test messages are
Notification rows delivered by the ordinary delivery job, so they are recorded and retried
like pages, and they commit (or not) with the change that asked for them.

This module must not import notifications.dispatch: dispatch renders the email verification
link from `email_verification_url` here, and the import would go round in a circle.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from datetime import timedelta
from urllib.parse import urlsplit

import phonenumbers
from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents.models import Urgency
from notifications.models import Channel, ContactMethod, Notification, NotificationRule, Reason
from notifications.services import defer_delivery
from notifications.verification import (
    CODE_TTL,
    MAX_FAILURES,
    RESEND_AFTER,
    code_matches,
    new_nonce,
)
from opsknight.models import User

PHONE_CHANNELS = (Channel.SMS, Channel.VOICE, Channel.WHATSAPP)
# Slack member ids: U… for users, W… for Enterprise Grid users.
SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{6,20}$")
TEST_EVERY = timedelta(seconds=30)
MAX_RULES = 10
MAX_DELAY_MINUTES = 1440
EMAIL_LINK_SALT = "opsknight.notifications.verify-email"
EMAIL_LINK_MAX_AGE = timedelta(hours=24)


def _email(address: str) -> str:
    address = address.strip()
    validate_email(address)
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}"  # the local part may be case-sensitive; domains are not


_PARSE_PROBLEMS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: (
        "This phone number's country code does not exist."
    ),
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "This phone number is too short.",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "This phone number is too short.",
    phonenumbers.NumberParseException.TOO_LONG: "This phone number is too long.",
}


def _phone(address: str) -> str:
    text = address.strip()
    if not text.startswith("+"):
        raise ValidationError(
            "Enter the number in international format: + and the country code, e.g. +14155550123."
        )
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        problem = _PARSE_PROBLEMS.get(exc.error_type, "This is not a phone number.")
        raise ValidationError(problem) from exc
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason == phonenumbers.ValidationResult.TOO_SHORT:
        raise ValidationError("This phone number is too short.")
    if reason == phonenumbers.ValidationResult.TOO_LONG:
        raise ValidationError("This phone number is too long.")
    if reason == phonenumbers.ValidationResult.INVALID_COUNTRY_CODE:
        raise ValidationError("This phone number's country code does not exist.")
    if not phonenumbers.is_valid_number(number):
        code = number.country_code
        region = phonenumbers.region_code_for_country_code(code)
        raise ValidationError(f"This is not a valid phone number for +{code} ({region}).")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _slack(address: str) -> str:
    user_id = address.strip().upper()
    if not SLACK_USER_ID.match(user_id):
        raise ValidationError(
            "Enter a Slack member id (U or W and letters and digits, e.g. U012ABCDEF): "
            "in Slack, open your profile, ⋮, Copy member ID."
        )
    return user_id


def normalize_address(channel: str, address: str) -> str:
    """The address as stored, or ValidationError saying what is wrong with it.

    Normalizing makes the same number typed two ways one row (the unique constraint), and
    gives providers the one format they accept (E.164 for Twilio).
    """
    if channel == Channel.EMAIL:
        return _email(address)
    if channel in PHONE_CHANNELS:
        return _phone(address)
    if channel == Channel.SLACK:
        return _slack(address)
    if channel == Channel.PUSH:
        raise ValidationError("Push subscriptions are added by your browser, not by hand.")
    raise ValidationError(f"Unknown channel {channel!r}.")


def contact_method_add(*, user: User, channel: str, address: str, label: str = "") -> ContactMethod:
    """Add an unverified way to reach `user`; ValidationError when the address is invalid or
    already theirs. The person's login email is verified at once: signing in proved it."""
    normalized = normalize_address(channel, address)
    duplicate = ContactMethod.objects.filter(user=user, channel=channel, address=normalized)
    if duplicate.exists():
        raise ValidationError(f"You already have {Channel(channel).label} {normalized}.")
    is_login = channel == Channel.EMAIL and normalized.lower() == user.email.lower()
    try:
        with transaction.atomic():
            return ContactMethod.objects.create(
                user=user,
                channel=channel,
                address=normalized,
                label=label.strip()[:100],
                verified_at=timezone.now() if is_login else None,
            )
    except IntegrityError as exc:  # the same address added twice at once
        raise ValidationError(f"You already have {Channel(channel).label} {normalized}.") from exc


PUSH_KEY_BYTES = {"p256dh": 65, "auth": 16}  # an uncompressed P-256 point; a 16-byte secret


def _push_key(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError(f"The subscription's keys.{name} is missing.")
    try:
        standard = value.replace("-", "+").replace("_", "/")
        raw = base64.b64decode(standard + "=" * (-len(value) % 4), validate=True)
    except (ValueError, binascii.Error) as exc:
        raise ValidationError(f"keys.{name} is not base64url.") from exc
    if len(raw) != PUSH_KEY_BYTES[name]:
        raise ValidationError(f"keys.{name} must be {PUSH_KEY_BYTES[name]} bytes.")
    return value


def push_subscription_save(
    *, user: User, endpoint: object, keys: object, label: str = ""
) -> ContactMethod:
    """Keep this browser's push subscription as a contact method. It is verified at once: only
    the person's own signed-in browser can hand it over, and only that browser can read what is
    sent to it. The same endpoint again updates its keys."""
    if not isinstance(endpoint, str) or len(endpoint) > 512:
        raise ValidationError("The subscription's endpoint must be a URL (512 characters at most).")
    parts = urlsplit(endpoint)
    schemes = ("https", "http") if settings.PUSH_ALLOW_PRIVATE_ADDRESSES else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise ValidationError("The subscription's endpoint must be an https:// URL.")
    if not isinstance(keys, dict):
        raise ValidationError("The subscription has no keys.")
    cleaned = {name: _push_key(name, keys.get(name)) for name in PUSH_KEY_BYTES}
    method, _ = ContactMethod.objects.update_or_create(
        user=user,
        channel=Channel.PUSH,
        address=endpoint,
        defaults={"keys": cleaned, "verified_at": timezone.now(), "label": label.strip()[:100]},
    )
    return method


@transaction.atomic
def contact_method_delete(*, method: ContactMethod) -> None:
    """Remove a method and the rules that use it; its past deliveries stay in the history."""
    ContactMethod.objects.filter(pk=method.pk).delete()


def status_updates_set(*, method: ContactMethod, enabled: bool) -> None:
    """Whether this address also hears when its pages are acknowledged or resolved. Voice
    calls never carry them (notifications/status_updates.py)."""
    if enabled and method.channel == Channel.VOICE:
        raise ValidationError("Status updates are not sent by voice call.")
    ContactMethod.objects.filter(pk=method.pk).update(status_updates=enabled)


def _locked(method: ContactMethod) -> ContactMethod:
    # One row lock per method: two clicks on "send code" cannot both pass the throttle.
    return ContactMethod.objects.select_for_update().get(pk=method.pk)


def _message_to(method: ContactMethod, reason: Reason) -> Notification:
    notification = Notification.objects.create(
        reason=reason,
        request=None,
        incident=None,
        user_id=method.user_id,
        channel=method.channel,
        contact_method=method,
        address=method.address,
        due_at=timezone.now(),
    )
    defer_delivery(notification)
    return notification


def _wait(since: timedelta, every: timedelta, what: str) -> None:
    if since < every:
        seconds = max(1, int((every - since).total_seconds() + 0.999))
        raise ValidationError(f"{what} was just sent; try again in {seconds} s.")


@transaction.atomic
def verification_send(*, method: ContactMethod) -> Notification:
    """Draw a new code (for email, a new link) and send it to the method's address.

    Defers: notifications.deliver for the VERIFICATION delivery. The code replaces any earlier
    one and resets the wrong-try count; resends wait RESEND_AFTER.
    """
    method = _locked(method)
    if method.verified_at is not None:
        raise ValidationError(f"{method.address} is already verified.")
    if method.opted_out_at is not None:
        raise ValidationError(f"{method.address} texted STOP; text START to it first.")
    if method.verification_sent_at is not None:
        what = "A link" if method.channel == Channel.EMAIL else "A code"
        _wait(timezone.now() - method.verification_sent_at, RESEND_AFTER, what)
    new_nonce(method)
    method.save(
        update_fields=["verification_nonce", "verification_sent_at", "verification_failures"]
    )
    return _message_to(method, Reason.VERIFICATION)


def verification_confirm(*, method: ContactMethod, code: str) -> ContactMethod:
    """Check a code typed by the person; right, the method is verified. Wrong, the try is
    counted (and kept: the count commits even though the call raises) and ValidationError
    says why. Email addresses are verified by their link instead."""
    with transaction.atomic():
        method = _locked(method)
        if method.verified_at is not None:
            return method
        problem = _code_problem(method)
        if not problem and code_matches(method, code):
            method.verified_at = timezone.now()
            method.verification_nonce, method.verification_failures = "", 0
            method.save(
                update_fields=["verified_at", "verification_nonce", "verification_failures"]
            )
            return method
        if not problem:
            method.verification_failures += 1
            method.save(update_fields=["verification_failures"])
            left = MAX_FAILURES - method.verification_failures
            problem = (
                f"That code is not right; {left} tr{'y' if left == 1 else 'ies'} left."
                if left
                else "That code is not right, and that was the last try: send a new code."
            )
    raise ValidationError(problem)


def _code_problem(method: ContactMethod) -> str:
    if method.channel == Channel.EMAIL:
        return "Email addresses are verified with the link we email; open it."
    if not method.verification_nonce or method.verification_sent_at is None:
        return "No code was sent yet: send a code first."
    if method.verification_failures >= MAX_FAILURES:
        return "Too many wrong codes: send a new code."
    if timezone.now() - method.verification_sent_at > CODE_TTL:
        return "This code has expired: send a new code."
    return ""


def email_verification_token(method: ContactMethod) -> str:
    """A signed token for the method's current link: bound to the method, its address and the
    latest send (a newer send replaces older links). Nothing secret is stored."""
    payload = {"m": method.pk, "a": method.address, "n": method.verification_nonce}
    return signing.TimestampSigner(salt=EMAIL_LINK_SALT).sign_object(payload)


def email_verification_url(method: ContactMethod) -> str:
    return f"{settings.BASE_URL}/notifications/verify-email/{email_verification_token(method)}/"


def email_verification_read(token: str) -> ContactMethod:
    """The email method a valid link names (verified or not); ValidationError otherwise."""
    try:
        payload = signing.TimestampSigner(salt=EMAIL_LINK_SALT).unsign_object(
            token, max_age=EMAIL_LINK_MAX_AGE.total_seconds()
        )
    except signing.SignatureExpired as exc:
        raise ValidationError("This link has expired: send a new one from your profile.") from exc
    except signing.BadSignature as exc:
        raise ValidationError("This link is not valid.") from exc
    method = (
        ContactMethod.objects.select_related("user")
        .filter(pk=payload.get("m"), channel=Channel.EMAIL, address=payload.get("a"))
        .first()
    )
    if method is None:
        raise ValidationError("This link is not valid: the address was removed or changed.")
    if method.verified_at is None and method.verification_nonce != payload.get("n"):
        raise ValidationError("A newer link was sent to this address: use that one.")
    return method


@transaction.atomic
def email_verification_confirm(*, token: str) -> ContactMethod:
    """Verify the email method a valid link names. Using it twice changes nothing."""
    method = _locked(email_verification_read(token))
    if method.verified_at is None:
        method.verified_at = timezone.now()
        method.verification_nonce, method.verification_failures = "", 0
        method.save(update_fields=["verified_at", "verification_nonce", "verification_failures"])
    return method


@transaction.atomic
def test_send(*, method: ContactMethod) -> Notification:
    """Send "this is how pages will reach you" to a verified method, at most once per
    TEST_EVERY. Defers: notifications.deliver for the TEST delivery."""
    method = _locked(method)
    if method.verified_at is None:
        raise ValidationError("Verify this method before sending a test.")
    if method.opted_out_at is not None:
        raise ValidationError(f"{method.address} texted STOP; text START to it first.")
    last = (
        Notification.objects.filter(contact_method=method, reason=Reason.TEST)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if last is not None:
        _wait(timezone.now() - last, TEST_EVERY, "A test")
    return _message_to(method, Reason.TEST)


test_send.__test__ = False  # a service, not a test: pytest must not collect it where imported


def _check_rules(user: User, urgency: str, rules: Sequence[tuple[int, int]]) -> None:
    if urgency not in Urgency.values:
        raise ValidationError(f"Unknown urgency {urgency!r}.")
    if len(rules) > MAX_RULES:
        raise ValidationError(f"At most {MAX_RULES} rules per urgency.")
    if len(set(rules)) != len(rules):
        raise ValidationError("The same method is listed twice with the same delay.")
    for delay, _ in rules:
        if not 0 <= delay <= MAX_DELAY_MINUTES:
            raise ValidationError(f"Delays are 0 to {MAX_DELAY_MINUTES} minutes, not {delay}.")
    ids = {method_id for _, method_id in rules}
    methods = {m.pk: m for m in ContactMethod.objects.filter(user=user, pk__in=ids)}
    if missing := ids - methods.keys():
        raise ValidationError(f"No such contact method: {sorted(missing)[0]}.")
    if unverified := [m for m in methods.values() if m.verified_at is None]:
        raise ValidationError(f"{unverified[0]} is not verified yet; verify it first.")


@transaction.atomic
def rules_replace(
    *, user: User, urgency: str, rules: Sequence[tuple[int, int]]
) -> list[NotificationRule]:
    """Replace the person's rules for one urgency with (delay minutes, contact method id)
    pairs. No rules: the organization defaults apply (notifications/planning.py)."""
    rules = [(int(delay), int(method_id)) for delay, method_id in rules]
    # Lock the person, so two saves of the same urgency cannot interleave their rows.
    User.objects.select_for_update().filter(pk=user.pk).first()
    _check_rules(user, urgency, rules)
    NotificationRule.objects.filter(user=user, urgency=urgency).delete()
    return NotificationRule.objects.bulk_create(
        NotificationRule(user=user, urgency=urgency, delay_minutes=delay, contact_method_id=mid)
        for delay, mid in sorted(rules)
    )
