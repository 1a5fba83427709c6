"""Which addresses the platform may connect to when a tenant chose where (a provider's base_url, a crawled website).

Without a rule, a tenant admin who types a URL makes the deployment connect from inside its own network: to
127.0.0.1 (on the local stack: Redis, moto, the workers), to 169.254.169.254 (the cloud's metadata service, which
hands out the function's credentials), to the VPC's private addresses; and a connection test would tell which ports
are open. So these addresses are refused, by the kind of address rather than a list of names:

    loopback, unspecified (0.0.0.0, ::), private (RFC 1918, fc00::/7), link-local (169.254/16 with the metadata
    services, fe80::/10), shared/CGNAT (100.64/10, e.g. 100.100.100.200), multicast, broadcast, and every range
    that is not globally routable (documentation, benchmarking, IETF, reserved).

An IPv6 address that carries an IPv4 one (IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible, NAT64 64:ff9b::/96, 6to4) is
judged by the IPv4 it carries. A host name is judged by what it resolves to: it is refused when it resolves to no
permitted address (`check_url`, when a provider is saved or changed; a name that does not resolve yet is accepted
there) and, because an answer can change after that check (DNS rebinding) or a server can redirect, every connection
is checked again when it is made (eneo.core.outbound_http connects only to an address it checked).

The deployment can allow hosts anyway (a self-hosted vLLM on 10.0.0.5, Ollama on localhost) with
OUTBOUND_ALLOWED_HOSTS: comma-separated host names (exact, case-insensitive: that name is trusted whatever it
resolves to), IP addresses, or networks in CIDR form (an address in them is permitted). The managed provider (the
deployment's own model server) is the deployment's, not a tenant's choice: it is not subject to the rule.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

RESOLVE_TIMEOUT = 3.0  # seconds a check may wait for DNS when a provider is saved

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_BROADCAST = ipaddress.ip_address("255.255.255.255")
_PRIVATE = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7",
                                                   "fec0::/10"))  # RFC 1918, unique local, (old) site-local
# Not globally reachable (RFC 6890), listed so the rule does not depend on the Python version's tables; 192.0.0.0/24
# holds Oracle Cloud's metadata service (192.0.0.192), which Python 3.11 counts as global.
_NOT_ROUTABLE = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4",
    "100::/64", "2001::/23", "2001:db8::/32"))


class OutboundRefused(Exception):
    """A connection to a host the outbound rule refuses; raised before any packet is sent to it."""

    def __init__(self, host: str, kind: str) -> None:
        verb = "is" if literal_address(host) is not None else "resolves only to"
        super().__init__(f"{host} {verb} {kind}")
        self.host, self.kind = host, kind


def _carried_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for, if it is one of the IPv4-in-IPv6 forms."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal(ip: IPAddress) -> str | None:
    """What kind of address `ip` is when the rule refuses it ("a loopback address", ...); None when permitted."""
    if isinstance(ip, ipaddress.IPv6Address) and (carried := _carried_ipv4(ip)) is not None:
        return refusal(carried)
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_link_local:
        return "a link-local address (where cloud metadata services answer)"
    if ip in _CGNAT:
        return "a shared (CGNAT) address"
    if ip.is_multicast or ip == _BROADCAST:
        return "a multicast or broadcast address"
    if any(ip in network for network in _PRIVATE):
        return "a private address"
    if any(ip in network for network in _NOT_ROUTABLE) or ip.is_private or not ip.is_global or ip.is_reserved:
        return "an address that is not publicly routable"
    return None


@dataclass(frozen=True)
class AllowList:
    """What OUTBOUND_ALLOWED_HOSTS allows: host names, and addresses or networks."""

    names: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str) -> AllowList:
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in (e.strip() for e in text.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                names.add(entry.lower().rstrip("."))
        return cls(frozenset(names), tuple(networks))

    def allows_name(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.names

    def permits(self, ip: IPAddress) -> bool:
        """The rule lets `ip` through, or the deployment allowed it."""
        return refusal(ip) is None or any(ip in network for network in self.networks)


@lru_cache(maxsize=8)
def _parsed(text: str) -> AllowList:
    return AllowList.parse(text)


def allow_list() -> AllowList:
    """The deployment's allow list (OUTBOUND_ALLOWED_HOSTS), read from the settings on each use (cached parse)."""
    from eneo.core.settings import get_settings

    return _parsed(get_settings().outbound_allowed_hosts)


def literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def permitted(host: str, addresses: Iterable[IPAddress], allow: AllowList) -> list[IPAddress]:
    """The addresses of `host` a connection may use (all of them for a host allowed by name); raises
    OutboundRefused when there is none."""
    found = list(addresses)
    if allow.allows_name(host):
        return found
    usable = [ip for ip in found if allow.permits(ip)]
    if not usable:
        raise OutboundRefused(host, (refusal(found[0]) or "a refused address") if found else "no address")
    return usable


def _is_loopback_name(host: str) -> bool:
    """RFC 6761: `localhost` and every name under it are loopback, whatever a resolver says."""
    name = host.lower().rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


async def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses `host` resolves to (a literal address is itself), in the resolver's order."""
    if (literal := literal_address(host)) is not None:
        return [literal]
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[IPAddress, None] = {}
    for _family, _type, _proto, _name, sockaddr in infos:
        seen.setdefault(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]), None)
    return list(seen)


async def check_url(url: str, allow: AllowList | None = None) -> str | None:
    """Why the platform may not connect to `url` ("127.0.0.1 is a loopback address"), or None when it may.

    For the moment a URL is saved: a host name that does not resolve (yet) passes here; connections check again.
    """
    allow = allow if allow is not None else allow_list()
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        return "the URL has no host"
    if allow.allows_name(host):
        return None
    if _is_loopback_name(host):
        return f"{host} is a loopback address"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            addresses = await resolve(host, port)
    except (OSError, UnicodeError, ValueError, TimeoutError):
        return None  # not resolvable now; a connection to it is checked when it is made
    try:
        permitted(host, addresses, allow)
    except OutboundRefused as refused:
        return str(refused)
    return None


def refusal_in(exc: BaseException) -> OutboundRefused | None:
    """The OutboundRefused an error was raised from (the SDKs wrap transport errors in their own), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OutboundRefused):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
