"""The SSRF guard: which IP addresses the downloader may connect to.

The downloader fetches URLs that strangers chose, so every address it connects to is checked
after DNS resolution: private, loopback, link-local, multicast, reserved, unspecified, shared
(CGNAT) and cloud-metadata addresses are refused unless ``fetch_allow_networks`` names their
network. The check lives in two places, and nowhere else:

* :meth:`AddressPolicy.check_url` before each request and each redirect hop: the scheme must be
  http(s), and an IP-literal host (which aiohttp never hands to a resolver) is checked here.
* :class:`GuardedResolver`, the aiohttp resolver of the downloader's connector: host names are
  resolved, the refused addresses are dropped, and aiohttp connects only to the addresses that
  remain. The address checked is the address connected to, so a DNS answer that changes between
  a check and the connection (DNS rebinding) cannot slip through.

Example::

    policy = AddressPolicy.from_networks(["127.0.0.1/32"])
    policy.refusal(ipaddress.ip_address("127.0.0.1"))        # None: allowed
    policy.refusal(ipaddress.ip_address("169.254.169.254"))  # "a cloud metadata address"
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Instance-metadata endpoints of the clouds (AWS, Azure, GCP, Alibaba, Oracle, ...). Most are
#: link-local or private anyway; the ones that look public (Azure's wire server, Oracle's) are
#: the reason this list exists.
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, Azure IMDS, GCP, OpenStack, DigitalOcean
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure wire server (a public-looking address)
        "192.0.0.192",  # Oracle Cloud
    )
)

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class BlockedAddressError(OSError):
    """A host resolved only to addresses the policy refuses. Raised inside aiohttp's connector
    (which wraps it in ``ClientConnectorDNSError``) and recognised by the downloader."""


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address routes to (6to4, Teredo, NAT64)."""
    found: list[ipaddress.IPv4Address] = []
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def _kind_of_refused(ip: IPAddress) -> str | None:
    """Why an address is not a public unicast address, or None when it is."""
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    for flag, kind in (
        ("is_unspecified", "unspecified"),
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_reserved", "reserved"),
        ("is_private", "private"),
    ):
        if getattr(ip, flag):
            return f"a {kind} address"
    if not ip.is_global:
        return "a non-global (shared or special-purpose) address"
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses may be connected to: public unicast ones, plus ``allow`` networks.

    Example::

        AddressPolicy.from_networks([]).refusal(ipaddress.ip_address("10.0.0.1"))
        # 'a private address'
    """

    allow: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_networks(cls, networks: Iterable[str]) -> "AddressPolicy":
        """Build from CIDR strings such as ``fetch_allow_networks`` (``["127.0.0.1/32"]``)."""
        return cls(tuple(ipaddress.ip_network(n, strict=False) for n in networks))

    def _allowed_explicitly(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.allow)

    def refusal(self, ip: IPAddress) -> str | None:
        """None if ``ip`` may be connected to, else what kind of address it is."""
        if self._allowed_explicitly(ip):
            return None
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            return self.refusal(ip.ipv4_mapped)  # the same host, spoken to over IPv6
        kind = _kind_of_refused(ip)
        if kind is None and isinstance(ip, ipaddress.IPv6Address):
            for inner in _embedded_ipv4(ip):
                inner_kind = _kind_of_refused(inner)
                if inner_kind is not None and not self._allowed_explicitly(inner):
                    return f"an IPv6 address embedding {inner_kind} ({inner})"
        return kind

    def check_url(self, url: URL) -> str | None:
        """None if a request to ``url`` may start, else why not (scheme, or an IP-literal host
        that is refused). Host names are checked later, by :class:`GuardedResolver`."""
        if url.scheme not in ("http", "https"):
            return f"scheme {url.scheme!r} is not fetched (only http and https)"
        host = url.raw_host
        if not host:
            return "the URL has no host"
        try:
            ip = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
        except ValueError:
            return None
        kind = self.refusal(ip)
        return None if kind is None else f"{ip} is {kind}"


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that drops refused addresses and fails when none is left.

    ``upstream`` does the real lookup (aiohttp's default resolver unless given).

    Example::

        connector = aiohttp.TCPConnector(resolver=GuardedResolver(AddressPolicy()))
    """

    def __init__(self, policy: AddressPolicy, upstream: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._upstream = upstream or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._upstream.resolve(host, port, family)
        kept: list[ResolveResult] = []
        refused: list[str] = []
        for answer in answers:
            ip = ipaddress.ip_address(answer["host"].split("%", 1)[0])
            kind = self._policy.refusal(ip)
            if kind is None:
                kept.append(answer)
            else:
                refused.append(f"{ip} ({kind})")
        if not kept:
            raise BlockedAddressError(
                f"{host} resolves only to refused addresses: {', '.join(refused) or 'none'}"
            )
        return kept

    async def close(self) -> None:
        await self._upstream.close()
