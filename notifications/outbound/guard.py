"""Server-side request forgery guard for URLs that organizations type in.

A webhook URL is chosen by a tenant, but the request leaves from our network: without this
check it could reach the cloud metadata service, the database, or an admin port on loopback.
So only https is allowed, and a host is refused when any address it resolves to is private,
loopback, link-local, reserved, multicast or otherwise not global. The sender then connects to
the addresses vetted here instead of resolving the name again (see sender.py), so a DNS server
that answers differently the second time (rebinding) cannot slip a private address through.

`OUTBOUND_ALLOW_PRIVATE_ADDRESSES` turns the checks off (a lab, the tests' loopback servers).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedURL(ValueError):
    """The URL may never be posted to (wrong scheme, a private address...): final."""


class UnresolvableHost(OSError):
    """The host name did not resolve now; it may later (retryable at send time)."""


@dataclass(frozen=True)
class VettedURL:
    url: str
    parts: SplitResult
    hostname: str
    port: int
    addresses: tuple[str, ...]  # in the resolver's order, each checked


def _blocked(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
        or not address.is_global  # shared address space (100.64/10), documentation ranges...
    )


def parse(url: str) -> tuple[SplitResult, str, int]:
    """Split a URL into its parts, host name and port; RefusedURL if it is not one we post to."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise RefusedURL("not a valid URL") from exc
    allow_private = settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise RefusedURL("only https:// URLs are allowed")
    if not parts.hostname:
        raise RefusedURL("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise RefusedURL("credentials in the URL's host part are not allowed")
    default_port = 443 if parts.scheme == "https" else 80
    return parts, parts.hostname, port or default_port


def vet(url: str) -> VettedURL:
    """Resolve the URL's host and check every address it has.

    Raises RefusedURL (never post there) or UnresolvableHost (the name did not resolve now).
    """
    parts, hostname, port = parse(url)
    try:
        infos = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnresolvableHost(f"could not resolve {hostname}") from exc
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise UnresolvableHost(f"could not resolve {hostname}")
    if not settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES:
        for address in addresses:
            if _blocked(ipaddress.ip_address(address.split("%", 1)[0])):
                raise RefusedURL(f"{hostname} resolves to a private or reserved address")
    return VettedURL(url=url, parts=parts, hostname=hostname, port=port, addresses=addresses)


def check(url: str) -> str:
    """Why a destination URL cannot be saved, or "" if it can (used when one is saved)."""
    try:
        vet(url)
    except RefusedURL as exc:
        return str(exc)
    except UnresolvableHost as exc:
        return f"{exc}; check the host name"
    return ""
