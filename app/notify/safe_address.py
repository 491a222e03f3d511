"""Where a webhook may connect (SSRF): host names normalised the way HTTP clients normalise them,
resolved once, and every resolved address checked before anything connects.

A URL's host is checked in the form a client would actually use: UTS-46 mapping first (so
`127。0。0。1` with ideographic dots, or full-width digits, is the loopback address it spells),
then the legacy IPv4 spellings resolvers accept (`127.1`, `2130706433`, `0x7f000001`,
`0177.0.0.1`). A name is resolved once; if any of its addresses is not publicly routable the
destination is refused, and the connection goes to an address that was checked (the caller
pins it), so a second lookup cannot rebind the name to an internal address in between.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import idna

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses the name resolves to. The system resolver by default; tests pass
# their own to observe each lookup or to answer for names no DNS here knows.
Resolver = Callable[[str, int], Awaitable[list[Address]]]

# Legacy IPv4 spellings (`127.1`, `2130706433`, `0x7f000001`) that resolvers accept as literals.
LEGACY_IPV4 = re.compile(r"^(?:0x[0-9a-f]+|[0-9]+)(?:\.(?:0x[0-9a-f]+|[0-9]+)){0,3}$")
# What a normalised DNS name may contain (underscores appear in real service names).
HOST_NAME = re.compile(r"^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$")
# Names that are loopback by definition (RFC 6761), whatever a resolver says.
LOOPBACK_NAMES = ("localhost",)

# Ranges refused outright, beyond what `ipaddress` calls non-global (its tables differ between
# Python patch releases, so the ones that matter are spelled out).
REFUSED_NETWORKS: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
    ipaddress.ip_network("0.0.0.0/8"),  # "this network"
    ipaddress.ip_network("100.64.0.0/10"),  # CGNAT
    ipaddress.ip_network("192.0.0.0/24"),  # IETF protocol assignments
    ipaddress.ip_network("192.88.99.0/24"),  # the deprecated 6to4 relay anycast
    ipaddress.ip_network("::/96"),  # IPv4-compatible (deprecated), :: and ::1 included
    ipaddress.ip_network("::ffff:0:0/96"),  # IPv4-mapped: a v6 socket would reach the v4 host
    ipaddress.ip_network("64:ff9b:1::/48"),  # NAT64 for local use (RFC 8215)
    ipaddress.ip_network("2001::/32"),  # Teredo: tunnels to an address the prefix hides
    ipaddress.ip_network("2001:db8::/32"),  # documentation
    ipaddress.ip_network("3fff::/20"),  # documentation (RFC 9637)
    ipaddress.ip_network("fc00::/7"),  # unique local
    ipaddress.ip_network("fe80::/10"),  # link-local
    ipaddress.ip_network("fec0::/10"),  # site-local (deprecated)
)
# NAT64's well-known prefix carries an IPv4 address in its last 32 bits (RFC 6052): it is as
# public as that address. A DNS64 resolver answers every IPv4-only name this way, so refusing
# the prefix outright would refuse every such endpoint on an IPv6-only network.
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class BadHost(ValueError):
    """The URL's host is not a usable host name or address."""


def normalise_host(host: str) -> str:
    """The host as an HTTP client would look it up: UTS-46 mapped, IDNA-encoded, lower case,
    without a trailing dot. IPv6 literals come back as written (without brackets)."""
    if ":" in host:  # an IPv6 literal; `urlsplit` removed the brackets
        try:
            ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise BadHost("is not a valid IPv6 address") from exc
        return host.lower()
    try:
        ascii_host = host if host.isascii() else idna.encode(host, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise BadHost("is not a valid host name") from exc
    ascii_host = ascii_host.lower().rstrip(".")
    if not HOST_NAME.match(ascii_host):
        raise BadHost("is not a valid host name")
    return ascii_host


def literal_address(host: str) -> Address | None:
    """The address a normalised host spells literally, legacy IPv4 forms included; None for a
    name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if LEGACY_IPV4.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            raise BadHost("is not a valid IPv4 address") from None
    return None


def is_loopback_name(host: str) -> bool:
    return any(host == name or host.endswith("." + name) for name in LOOPBACK_NAMES)


def is_public(address: Address) -> bool:
    """Globally routable unicast: not loopback, private, link-local, CGNAT, multicast, reserved,
    unspecified, documentation, unique-local, nor a v6 form that embeds a non-public IPv4."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return False
        if address in NAT64:
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.sixtofour is not None:
            return is_public(address.sixtofour)  # 6to4 relays deliver to the embedded v4
    if any(address in network for network in REFUSED_NETWORKS):
        return False
    return address.is_global and not (
        address.is_multicast
        or address.is_reserved
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
    )


async def system_resolver(host: str, port: int) -> list[Address]:
    """Every address the system resolver gives for `host`, in its order of preference; [] when
    the name does not resolve. Runs in the loop's thread pool: the event loop never waits on
    DNS."""
    loop = asyncio.get_running_loop()
    try:
        found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    addresses: list[Address] = []
    for *_, sockaddr in found:
        address = ipaddress.ip_address(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


@dataclass(frozen=True)
class Destination:
    """A checked destination: the normalised host to name in `Host` and TLS, and the addresses
    a connection may go to (checked unless private addresses are allowed)."""

    host: str
    addresses: list[Address]


class Unreachable(Exception):
    """The name did not resolve, or resolved to an address webhooks may not reach. Deliberately
    one kind: a sender records it exactly like a refused or timed-out connection."""


async def resolve_destination(
    host: str, port: int, *, allow_private: bool, resolver: Resolver
) -> Destination:
    """Resolve `host` (normalised) once and check every address; `Unreachable` otherwise. An
    address literal is not looked up."""
    literal = literal_address(host)
    addresses = [literal] if literal is not None else await resolver(host, port)
    if not addresses:
        raise Unreachable(host)
    if not allow_private and not all(is_public(address) for address in addresses):
        raise Unreachable(host)
    return Destination(host, addresses)


def url_host(address: Address) -> str:
    """The address as a URL's host: IPv6 in brackets."""
    return f"[{address.compressed}]" if address.version == 6 else address.compressed
