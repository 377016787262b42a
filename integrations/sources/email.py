"""Email as an alert source: one mail, one event, whichever way it came in.

One kind, `email`, for three carriers: they carry the same thing, and an integration's mapping
options should not depend on the carrier.
- SMTP: `manage.py smtp_ingest` (the recipient's local part is the integration key).
- SendGrid Inbound Parse, posting to /api/v1/integrations/email/<key>/ (multipart: from, to,
  subject, text, html, headers, envelope, …; `email` holds the whole message when "POST the raw,
  full MIME message" is ticked). SendGrid cannot sign: keep the key in the URL (or basic auth,
  https://inbound:<key>@host/api/v1/integrations/email/) and set no signing secret.
- Mailgun routes, forward("https://host/api/v1/integrations/email/<key>/") (form: sender,
  recipient, from, subject, body-plain, stripped-text, body-html, message-headers, timestamp,
  token, signature). With a signing secret (Mailgun's webhook signing key) only posts whose
  `signature` is HMAC-SHA256(timestamp + token) get in. No replay check: a replayed mail only
  repeats an event that dedup folds into its incident.

Mapping: summary = the subject (else the first body line); description = the text body (else
the HTML body made crudely into text), first 20,000 characters; source = the sender's address;
details = from, to, cc, recipient, message id, date, carrier.
- Resolve: the subject starts (after Re:/Fwd:) with RESOLVED, RECOVERED, RECOVERY, CLEARED, OK or
  UP ("[RESOLVED] …", "RECOVERY: …", "** RECOVERY …", "UP alert: …") or ends a clause with "is
  UP/OK/RESOLVED/RECOVERED" ("Monitor is UP: api"); or matches the regex `options["resolve"]`
  instead (case-insensitive; the match is cut out before keying).
- Dedup, `options["dedup"]`: "subject" (default) keys on the subject's words, lower-cased,
  without Re:/Fwd:, punctuation and status words (resolved, ok, up, down, firing, problem,
  alert, critical, warning, …, and an "is" before one) wherever they stand: "[FIRING:1] HighCPU"
  and "[RESOLVED] HighCPU" are both "email:highcpu", "** PROBLEM … db1/Disk is CRITICAL **" and
  "** RECOVERY … db1/Disk is OK **" both "email:… db1 disk". "message-id" keys on the thread
  (References' first id, else In-Reply-To, else Message-ID): each new thread is an incident, a
  reply in it can resolve it. Anything else is a regex with a named group `key`, searched in the
  subject (e.g. "Alert: (?P<key>\\S+)"); no match: keyed by subject.
- Severity: `options["severity"]`, else the gravest keyword among the subject's words
  (critical/down/fatal…, error/failed…, warning/degraded…, info/notice), else warning. Whole
  words, not common.severity_from: its substring match makes "downtime" and "webpage" critical,
  and so "alert", which nearly every alert mail's subject says.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email import message_from_string, policy
from email.message import EmailMessage, Message
from email.parser import HeaderParser
from email.utils import parseaddr, parsedate_to_datetime
from functools import partial
from typing import Any

from django.http import HttpRequest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Severity
from integrations.sources.common import done, require_object, text
from integrations.sources.html_text import html_to_text
from integrations.sources.registry import Provider

BODY_LIMIT = 20_000
SUBJECT_LIMIT = 1024
DEDUP_MODES = ("subject", "message-id")
DETAILS = ("to", "cc", "recipient", "message_id", "date", "via")
MAILGUN_FIELDS = ("sender", "recipient", "body-plain", "stripped-text", "message-headers")

_REPLY = re.compile(r"\s*(?:re|fwd?|aw|wg|sv|antw)\s*(?:\[\d+\])?\s*:", re.IGNORECASE)
_RESOLVE = re.compile(
    r"^[\W_]*(?:resolved|recovered|recovery|cleared|ok|up)\b(?![ \t]+(?:to|and)\b)"
    r"|\bis[ \t]+(?:up|ok|resolved|recovered)\b(?![ \t]*\w)",
    re.IGNORECASE,
)
_FIRING_COUNT = re.compile(r"\b(firing|resolved)\s*:\s*\d+", re.IGNORECASE)
_STATUS_WORDS = frozenset((
    "resolved", "resolve", "recovered", "recovery", "cleared", "ok", "up", "down", "firing",
    "problem", "alert", "alarm", "triggered", "critical", "crit", "warning", "warn", "error",
    "info", "unknown",
))  # fmt: skip
_SEVERITY_WORDS: tuple[tuple[Severity, frozenset[str]], ...] = tuple(
    (severity, frozenset(words.split()))
    for severity, words in (
        (Severity.CRITICAL, "critical crit fatal emergency disaster down outage p1 sev0 sev1"),
        (Severity.ERROR, "error errors err failed failure major p2 sev2"),
        (Severity.WARNING, "warning warnings warn degraded minor p3 sev3"),
        (Severity.INFO, "info informational notice p4 p5"),
    )
)
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")


@dataclass(frozen=True)
class Options:
    """An email integration's checked options."""

    dedup: str = "subject"  # subject | message-id | pattern
    pattern: re.Pattern[str] | None = None
    resolve: re.Pattern[str] | None = None
    severity: Severity | None = None


@dataclass(frozen=True)
class Mail:
    """One message, whatever carried it; every text already cleaned for storage."""

    subject: str
    sender: str  # the From header as written
    to: str = ""
    cc: str = ""
    recipient: str = ""  # the address it was delivered to, when the carrier says
    message_id: str = ""
    thread: str = ""  # the thread's first message id
    date: str = ""
    body: str = ""
    via: str = "smtp"


def read_options(options: dict[str, Any]) -> Options:
    """The integration's options, or InvalidPayload naming each bad one."""
    errors: list[str] = []
    dedup = options.get("dedup") or "subject"
    pattern = resolve = None
    if not isinstance(dedup, str):
        errors.append("options.dedup must be 'subject', 'message-id' or a regex.")
    elif dedup not in DEDUP_MODES:
        pattern = _regex(dedup, "options.dedup", errors)
        if pattern is not None and "key" not in pattern.groupindex:
            errors.append("options.dedup: the regex needs a named group (?P<key>…).")
        dedup = "pattern"
    if options.get("resolve"):
        resolve = _regex(options["resolve"], "options.resolve", errors)
    severity = options.get("severity") or None
    if severity is not None and severity not in Severity.values:
        errors.append(f"options.severity must be one of {', '.join(Severity.values)}.")
    done(errors)
    return Options(str(dedup), pattern, resolve, Severity(severity) if severity else None)


def _regex(value: Any, name: str, errors: list[str]) -> re.Pattern[str] | None:
    if not isinstance(value, str):
        errors.append(f"{name} must be a regex (text).")
        return None
    try:
        return re.compile(value, re.IGNORECASE)
    except re.error as exc:
        errors.append(f"{name} is not a valid regex: {exc}.")
        return None


# --- From each carrier's shape to a Mail ------------------------------------------------------


def _clean(value: str) -> str:
    # PostgreSQL text and jsonb refuse NUL and lone surrogates (undecodable header bytes).
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _one_line(value: str) -> str:
    return _clean(" ".join(value.split()))


def header(message: Message, name: str) -> str:
    """A header's decoded value on one line; '' when absent or unreadable."""
    try:
        value = message.get(name)
        return _one_line(str(value)) if value is not None else ""
    except Exception:  # the stdlib header parser raises assorted errors on malformed input
        return ""


def _thread(message_id: str, in_reply_to: str, references: str) -> str:
    for value in (references, in_reply_to, message_id):
        if found := _MESSAGE_ID.search(value):
            return found.group()
    return message_id


Lookup = Callable[[str], str]


def _mail(lookup: Lookup, *, via: str, body: str, recipient: str = "", **given: str) -> Mail:
    """A Mail from a header lookup; `given` (subject, sender, to, cc) wins over the headers."""
    message_id = lookup("Message-ID")
    return Mail(
        subject=_one_line(given.get("subject") or lookup("Subject"))[:SUBJECT_LIMIT],
        sender=_one_line(given.get("sender") or lookup("From")),
        to=_one_line(given.get("to") or lookup("To")),
        cc=_one_line(given.get("cc") or lookup("Cc")),
        recipient=_one_line(recipient),
        message_id=message_id,
        thread=_thread(message_id, lookup("In-Reply-To"), lookup("References")),
        date=lookup("Date"),
        body=_clean(body),
        via=via,
    )


def mail_from_message(message: Message, *, via: str = "smtp", recipient: str = "") -> Mail:
    """A message parsed with email.policy.default, as a Mail."""
    return _mail(partial(header, message), via=via, body=_body(message), recipient=recipient)


def _body(message: Message) -> str:
    if not isinstance(message, EmailMessage):  # parsed without policy.default: no get_body
        return ""
    for kind in ("plain", "html"):
        content = _content(message.get_body(preferencelist=(kind,)))
        if content is not None:
            return content if kind == "plain" else html_to_text(content)
    return ""


def _content(part: Message | None) -> str | None:
    if not isinstance(part, EmailMessage):
        return None
    try:
        content = part.get_content()
    except Exception:  # an unknown charset or a broken transfer encoding: decode crudely
        try:
            payload = part.get_payload(decode=True)
        except Exception:
            return None
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else None
    return content if isinstance(content, str) else None


def _json(value: str) -> Any:
    try:
        return json.loads(value) if value else None
    except (ValueError, RecursionError):
        return None


def _sendgrid(fields: dict[str, Any], errors: list[str]) -> Mail:
    envelope = _json(text(fields, "envelope", errors))
    to = envelope.get("to") if isinstance(envelope, dict) else None
    recipient = to[0] if isinstance(to, list) and to and isinstance(to[0], str) else ""
    if raw := text(fields, "email", errors):  # "POST the raw, full MIME message"
        message = message_from_string(raw, policy=policy.default)
        return mail_from_message(message, via="sendgrid", recipient=recipient)
    headers = HeaderParser(policy=policy.default).parsestr(text(fields, "headers", errors))
    sender = text(fields, "from", errors) or header(headers, "From")
    if not sender:
        errors.append("'from' is missing.")
    body = text(fields, "text", errors) or html_to_text(text(fields, "html", errors))
    return _mail(
        partial(header, headers),
        via="sendgrid",
        body=body,
        recipient=recipient,
        subject=text(fields, "subject", errors),
        sender=sender,
        to=text(fields, "to", errors),
        cc=text(fields, "cc", errors),
    )


def _mailgun(fields: dict[str, Any], errors: list[str]) -> Mail:
    pairs = _json(text(fields, "message-headers", errors))
    pairs = [p for p in pairs if _is_header_pair(p)] if isinstance(pairs, list) else []

    def lookup(name: str) -> str:
        # Some headers come as fields of their own (Message-Id, Date), all in message-headers.
        for key, value in [*fields.items(), *pairs]:
            if key.lower() == name.lower() and isinstance(value, str) and value:
                return _one_line(value)
        return ""

    sender = text(fields, "from", errors) or text(fields, "sender", errors)
    if not sender:
        errors.append("'sender' is missing.")
    html = text(fields, "body-html", errors) or text(fields, "stripped-html", errors)
    body = text(fields, "body-plain", errors) or text(fields, "stripped-text", errors)
    return _mail(
        lookup,
        via="mailgun",
        body=body or html_to_text(html),
        recipient=text(fields, "recipient", errors),
        subject=text(fields, "subject", errors),
        sender=sender,
    )


def _is_header_pair(pair: Any) -> bool:
    return isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)


def _without_reply_prefixes(subject: str) -> str:
    while found := _REPLY.match(subject):
        subject = subject[found.end() :]
    return subject.strip()


def subject_key(subject: str) -> str:
    """The subject's identity: its words, without reply prefixes, status words, punctuation."""
    subject = _FIRING_COUNT.sub(r"\1", _without_reply_prefixes(subject))
    words = [word.casefold() for word in re.findall(r"\w+", subject)] + [""]
    # "X is DOWN" keys as "X is UP" and as plain "X".
    kept = (w for w, after in itertools.pairwise(words) if not _is_status(w, after))
    return " ".join(kept)


def _is_status(word: str, after: str) -> bool:
    return word in _STATUS_WORDS or (word == "is" and after in _STATUS_WORDS)


def subject_severity(subject: str) -> Severity:
    """The gravest severity keyword among the subject's words; warning when there is none."""
    words = {w.casefold() for w in re.findall(r"\w+", subject)}
    for severity, keywords in _SEVERITY_WORDS:
        if words & keywords:
            return severity
    return Severity.WARNING


def _first_line(body: str) -> str:
    return next((line.strip() for line in body.splitlines() if line.strip()), "")[:200]


def events_from_mail(mail: Mail, options: Options) -> list[NormalizedEvent]:
    """The one event a mail makes (see the module docstring for the mapping)."""
    title = mail.subject or _first_line(mail.body) or "(no subject)"
    keyed = title
    if options.resolve is not None:
        found = options.resolve.search(title)
        resolved = found is not None
        if found is not None:
            keyed = title[: found.start()] + " " + title[found.end() :]
    else:
        resolved = _RESOLVE.search(_without_reply_prefixes(title)) is not None
    key = f"email:{subject_key(keyed)}"
    if options.dedup == "message-id":
        key = f"email:{mail.thread}" if mail.thread else ""
    elif options.pattern is not None and (found := options.pattern.search(title)):
        picked = " ".join((found.group("key") or "").split()).casefold()
        key = f"email:{picked}" if picked else key
    return [
        NormalizedEvent(
            action=AlertAction.RESOLVE if resolved else AlertAction.TRIGGER,
            dedup_key=key or None,
            summary=title,
            severity=options.severity or subject_severity(title),
            source=parseaddr(mail.sender)[1] or mail.sender,
            description=mail.body.strip()[:BODY_LIMIT],
            details={"from": mail.sender} | {name: getattr(mail, name) for name in DETAILS},
            occurred_at=_date(mail.date),
        )
    ]


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo is not None else None  # "-0000": the zone is unknown


# --- The HTTP provider ------------------------------------------------------------------------


def parse(body: Any, options: dict[str, Any]) -> list[NormalizedEvent]:
    """A SendGrid Inbound Parse or Mailgun route post (told apart by their fields)."""
    fields = require_object(body)
    checked = read_options(options)
    errors: list[str] = []
    is_mailgun = any(name in fields for name in MAILGUN_FIELDS)
    mail = _mailgun(fields, errors) if is_mailgun else _sendgrid(fields, errors)
    done(errors)
    return events_from_mail(mail, checked)


def verify(request: HttpRequest, secret: str) -> bool:
    """Mailgun's signature: hex HMAC-SHA256 of `timestamp` + `token`, keyed by the signing key."""
    timestamp, token, signature = (
        request.POST.get(name, "") for name in ("timestamp", "token", "signature")
    )
    if not (timestamp and token and signature):
        return False
    expected = hmac.new(secret.encode(), (timestamp + token).encode(), hashlib.sha256)
    return hmac.compare_digest(signature.strip().lower().encode(), expected.hexdigest().encode())


SAMPLE = {
    "from": "Grafana <alerts@grafana.example.com>",
    "to": "checkout+0123456789abcdef@alerts.example.com",
    "subject": "[FIRING:1] HighErrorRate checkout-api (critical)",
    "text": "Error rate 7.2% over 5m on checkout-api (threshold 5%).",
    "headers": "Message-ID: <a1b2c3@grafana.example.com>\nDate: Fri, 20 Nov 2026 09:14:03 +0000",
    "envelope": '{"to": ["checkout+0123456789abcdef@alerts.example.com"], '
    '"from": "alerts@grafana.example.com"}',
}

PROVIDER = Provider(kind="email", parse=parse, verify=verify, body="json-or-form", sample=SAMPLE)
