"""Fetching a calendar from a URL someone typed in: http(s) only, bounded in size and time, and
never to this network's private addresses.

An organization admin chooses the URL, the server fetches it: without a guard that is a way to
make the server read internal endpoints (cloud metadata at 169.254.169.254, an admin port on
localhost). The address is checked on the connected socket, after DNS, so a name that resolves
to a public address for the check and a private one for the request (DNS rebinding) is caught
too; redirects open new connections and are checked the same way.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import time as clock
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from django.conf import settings

FETCH_TIMEOUT = 10.0
MAX_CALENDAR_BYTES = 5 * 1024 * 1024
_SCHEMES = {"http": "http", "https": "https", "webcal": "https", "webcals": "https"}


class CalendarFetchError(Exception):
    """A calendar URL that could not be fetched; the message is meant for a person."""


def _check_peer(sock: socket.socket) -> None:
    if settings.CALENDAR_IMPORT_ALLOW_PRIVATE_ADDRESSES:
        return
    address = ipaddress.ip_address(sock.getpeername()[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if not address.is_global or address.is_multicast:
        sock.close()
        raise CalendarFetchError(
            f"The calendar URL points at a private address ({address}); only public calendar "
            "servers can be imported (an operator may allow private ones with "
            "CALENDAR_IMPORT_ALLOW_PRIVATE_ADDRESSES)."
        )


class _GuardedHTTPConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _check_peer(self.sock)


class _GuardedHTTPSConnection(http.client.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _check_peer(self.sock)


class _GuardedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_GuardedHTTPConnection, req)


class _GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_GuardedHTTPSConnection, req, context=self._context)


def normalize_calendar_url(url: str) -> str:
    """http(s) only; webcal:// (what calendar apps hand out) means https://."""
    parts = urllib.parse.urlsplit(url.strip())
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None or not parts.hostname:
        raise CalendarFetchError("A calendar URL must start with https://, http:// or webcal://.")
    return urllib.parse.urlunsplit(parts._replace(scheme=scheme))


class _HttpRedirectsOnly(urllib.request.HTTPRedirectHandler):
    """urllib would follow a redirect to ftp://; a calendar import follows only http(s)."""

    def redirect_request(self, *args: Any) -> urllib.request.Request | None:  # type: ignore[override]
        new_url = args[-1]  # (request, fp, code, message, headers, new url)
        if urllib.parse.urlsplit(new_url).scheme.lower() not in ("http", "https"):
            raise CalendarFetchError("The calendar server redirected to a non-HTTP address.")
        return super().redirect_request(*args)


_OPENER = urllib.request.build_opener(_HttpRedirectsOnly, _GuardedHTTPHandler, _GuardedHTTPSHandler)


def fetch_calendar(url: str) -> str:
    """The body at `url` as text: at most MAX_CALENDAR_BYTES, within FETCH_TIMEOUT overall."""
    url = normalize_calendar_url(url)
    request = urllib.request.Request(  # noqa: S310 (the scheme is checked just above)
        url,
        headers={"User-Agent": "OpsKnight calendar import", "Accept": "text/calendar, */*"},
    )
    deadline = clock.monotonic() + FETCH_TIMEOUT
    try:
        with _OPENER.open(request, timeout=FETCH_TIMEOUT) as response:
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > MAX_CALENDAR_BYTES:
                raise CalendarFetchError(too_large())
            body = bytearray()
            while chunk := response.read(64 * 1024):
                body += chunk
                if len(body) > MAX_CALENDAR_BYTES:
                    raise CalendarFetchError(too_large())
                if clock.monotonic() > deadline:  # a server trickling bytes forever
                    raise CalendarFetchError(_timed_out())
            charset = response.headers.get_content_charset() or "utf-8"
    except urllib.error.HTTPError as exc:
        raise CalendarFetchError(
            f"The calendar server answered HTTP {exc.code} ({exc.reason})."
        ) from exc
    except (urllib.error.URLError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            raise CalendarFetchError(_timed_out()) from exc
        raise CalendarFetchError(f"The calendar server cannot be reached: {reason}.") from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise CalendarFetchError(
            f"Fetching the calendar failed: {exc or type(exc).__name__}."
        ) from exc
    try:
        return bytes(body).decode(charset, errors="replace")
    except LookupError:  # an unknown charset name: iCalendar's default is UTF-8
        return bytes(body).decode("utf-8", errors="replace")


def too_large() -> str:
    limit = MAX_CALENDAR_BYTES
    size = f"{limit >> 20} MB" if limit % (1 << 20) == 0 else f"{limit} bytes"
    return f"The calendar is larger than {size}."


def _timed_out() -> str:
    return f"The calendar server did not answer within {FETCH_TIMEOUT:g} seconds."
