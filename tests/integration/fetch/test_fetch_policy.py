"""Which addresses the guard refuses, and which header values the downloader obeys."""

from __future__ import annotations

import ipaddress
from datetime import datetime, timezone

import pytest

from shared.fetch import AddressPolicy
from shared.fetch.headers import forbids_ai, retry_after_seconds

REFUSED = {
    "127.0.0.1": "loopback",
    "127.0.0.2": "loopback",
    "::1": "loopback",
    "10.0.0.8": "private",
    "172.16.5.4": "private",
    "192.168.1.1": "private",
    "fc00::1": "private",
    "169.254.10.1": "link-local",
    "fe80::1": "link-local",
    "224.0.0.251": "multicast",
    "ff02::1": "multicast",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "240.0.0.1": "reserved",
    "100.64.0.1": "non-global",
    "169.254.169.254": "metadata",
    "fd00:ec2::254": "metadata",
    "100.100.100.200": "metadata",
    "168.63.129.16": "metadata",
    "::ffff:10.0.0.1": "private",
    "2002:a9fe:a9fe::1": "embedding",
    "64:ff9b::7f00:1": "reserved",
}


@pytest.mark.parametrize("address, kind", REFUSED.items())
def test_non_public_addresses_are_refused_by_default(address: str, kind: str) -> None:
    refusal = AddressPolicy().refusal(ipaddress.ip_address(address))
    assert refusal is not None and kind in refusal


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert AddressPolicy().refusal(ipaddress.ip_address(address)) is None


def test_allow_list_opens_exactly_its_networks() -> None:
    policy = AddressPolicy.from_networks(["127.0.0.1/32", "10.1.0.0/16"])
    assert policy.refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert policy.refusal(ipaddress.ip_address("10.1.200.3")) is None
    assert policy.refusal(ipaddress.ip_address("127.0.0.2")) is not None
    assert policy.refusal(ipaddress.ip_address("10.2.0.1")) is not None
    assert policy.refusal(ipaddress.ip_address("::1")) is not None


@pytest.mark.parametrize(
    "values, refused",
    [
        (["noai"], True),
        (["noindex, NoImageAI"], True),
        (["noindex", "nofollow"], False),
        (["googlebot: noai"], False),
        (["googlebot: noindex", "noai"], True),
        (["pixcrawler: noimageai"], True),
        (["*: noai"], True),
        (["unavailable_after: 25 Jun 2010 15:00:00 PST"], False),
        ([], False),
    ],
)
def test_x_robots_tag_noai(values: list[str], refused: bool) -> None:
    assert forbids_ai(values) is refused


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds("Thu, 01 Jan 2026 12:01:00 GMT", now) == 60.0
    assert retry_after_seconds("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("-5", now) is None
    assert retry_after_seconds(None, now) is None
