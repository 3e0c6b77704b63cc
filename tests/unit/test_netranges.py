"""snapback.netranges against brute force: covers, minimal covers, first-match evaluation."""

from __future__ import annotations

import ipaddress
import itertools
import random

import pytest

from snapback.netranges import covers_everyone, first_match_allowed, intervals_cover_everyone, is_internal, minimal_cover, network


@pytest.mark.parametrize(
    "cidrs, expected",
    [
        (["0.0.0.0/0"], True),
        (["0.0.0.0/1", "128.0.0.0/1"], True),
        (["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/1"], True),
        (["0.0.0.0/1", "128.0.0.0/2"], False),
        (["0.0.0.0/1", "128.0.0.0/1", "10.0.0.0/8"], True),
        (["::/1", "8000::/1"], True),
        (["::/1", "8000::/2"], False),
        (["10.0.0.1/1", "200.1.2.3/1"], True),  # host bits ignored, as EC2 canonicalises them
    ],
)
def test_covers_everyone(cidrs, expected):
    assert covers_everyone(network(c) for c in cidrs) is expected


def test_minimal_cover_is_a_cover_without_redundant_members_and_prefers_what_it_is_told():
    rng = random.Random(14)
    for _ in range(300):
        cidrs = [f"{rng.randrange(256)}.0.0.0/{rng.choice([1, 2, 3, 8])}" for _ in range(rng.randrange(1, 7))]
        nets = [network(c) for c in cidrs]
        cover = minimal_cover(nets, lambda n: n)
        brute = any(covers_everyone(c) for k in range(1, len(nets) + 1) for c in itertools.combinations(nets, k))
        assert bool(cover) == brute, cidrs
        if cover:
            assert covers_everyone(cover)
            assert all(not covers_everyone([c for c in cover if c is not x]) for x in cover), (cidrs, cover)
    halves = [network("0.0.0.0/1"), network("128.0.0.0/1")]
    world = network("0.0.0.0/0")
    assert minimal_cover([world, *halves], lambda n: n) == [world]
    assert minimal_cover([world, *halves], lambda n: n, preferred=lambda n: n in halves) == halves


def test_first_match_allowed_honours_earlier_denies():
    entries = [(network("0.0.0.0/1"), False), (network("0.0.0.0/0"), True)]
    ((index, intervals),) = first_match_allowed(entries)
    assert index == 1 and not intervals_cover_everyone(4, intervals)
    assert intervals == [(2**31, 2**32)]
    assert intervals_cover_everyone(4, first_match_allowed([(network("0.0.0.0/0"), True)])[0][1])


@pytest.mark.parametrize(
    "address, internal",
    [
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("192.168.1.1", True),
        ("100.64.0.1", True),
        ("127.0.0.1", True),
        ("169.254.169.254", True),
        ("fd12:3456:789a::1", True),
        ("fe80::1", True),
        ("::ffff:10.0.0.1", True),
        ("not-an-ip", True),
        ("185.220.101.4", False),
        ("2a0b:f4c2:2::1", False),
    ],
)
def test_is_internal(address, internal):
    assert is_internal(address) is internal
    if not internal:
        assert ipaddress.ip_address(address).is_global
