"""Address-range arithmetic for network remediations: does a set of CIDRs add up to the whole internet?

An attacker who knows that `0.0.0.0/0` is watched opens `0.0.0.0/1` and `128.0.0.0/1` instead (or
`::/1` + `8000::/1`, or any finer split): each piece looks partial, their union is everyone. Unions are
computed with the standard library's `ipaddress.collapse_addresses`; first-match evaluation (network
ACLs: the lowest rule number that matches decides) uses integer intervals. No I/O, no AWS.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
EVERYONE = {4: ipaddress.ip_network("0.0.0.0/0"), 6: ipaddress.ip_network("::/0")}
# Private and other non-internet ranges (RFC 1918, RFC 4193 ULA, loopback, link-local, CGNAT...):
# Python's `is_global` is False for every special-purpose range of the IANA registries.


def network(cidr: object) -> Network | None:
    """The network a CIDR names (host bits ignored, as EC2 canonicalises them), or None if it is not one."""
    if not isinstance(cidr, str) or "/" not in cidr:
        return None
    try:
        return ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return None


def covers_everyone(networks: Iterable[Network]) -> bool:
    """Whether the union of `networks` (one IP version) is the whole address space of that version."""
    nets = list(networks)
    if not nets:
        return False
    versions = {n.version for n in nets}
    if len(versions) != 1:
        raise ValueError("covers_everyone takes networks of one IP version")
    return list(ipaddress.collapse_addresses(nets)) == [EVERYONE[versions.pop()]]


def minimal_cover(items: Sequence[T], net: Callable[[T], Network], preferred: Callable[[T], bool] = lambda _: False) -> list[T]:
    """Items whose networks together cover everyone (one IP version), without redundant members; [] if
    they do not cover it. Preferred items are taken first (an event's own rules), then broadest first;
    redundant members are dropped last-taken first, so a rule inside another (10.0.0.0/8 inside
    0.0.0.0/1) is never part of the cover and stays."""
    order = sorted(items, key=lambda i: (not preferred(i), net(i).prefixlen))
    taken: list[T] = []
    for item in order:
        taken.append(item)
        if covers_everyone(net(t) for t in taken):
            break
    else:
        return []
    for item in reversed(list(taken)):
        rest = [t for t in taken if t is not item]
        if rest and covers_everyone(net(t) for t in rest):
            taken = rest
    return taken


# -- first-match evaluation (network ACLs) ----------------------------------------------------------

Interval = tuple[int, int]  # [start, end) over the integer value of addresses


def _interval(net: Network) -> Interval:
    return int(net.network_address), int(net.network_address) + net.num_addresses


def _merge(intervals: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _minus(intervals: list[Interval], taken: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for start, end in intervals:
        pieces = [(start, end)]
        for t_start, t_end in taken:
            pieces = [part for s, e in pieces for part in ((s, min(e, t_start)), (max(s, t_end), e)) if part[0] < part[1]]
        out.extend(pieces)
    return _merge(out)


def first_match_allowed(entries: Iterable[tuple[Network, bool]]) -> list[tuple[int, list[Interval]]]:
    """Under first-match evaluation of `entries` (network, allow?) in order: for each entry, the
    addresses it actually decides to allow (empty for a deny, or for an allow shadowed by earlier
    entries). Returns (index, intervals) for allow entries that decide something."""
    decided: list[Interval] = []
    out = []
    for index, (net, allow) in enumerate(entries):
        mine = _minus([_interval(net)], decided)
        if allow and mine:
            out.append((index, mine))
        decided = _merge([*decided, *mine])
    return out


def intervals_cover_everyone(version: int, intervals: Iterable[Interval]) -> bool:
    return _merge(intervals) == [_interval(EVERYONE[version])]


def minimal_interval_cover(
    items: Sequence[tuple[T, list[Interval]]], version: int, preferred: Callable[[T], bool] = lambda _: False
) -> list[T]:
    """`minimal_cover` for what each item actually decides (first-match contributions): preferred
    items first, then the largest contribution; redundant members dropped; [] if no cover."""
    order = sorted(items, key=lambda i: (not preferred(i[0]), -sum(e - s for s, e in i[1])))
    taken: list[tuple[T, list[Interval]]] = []
    for item in order:
        taken.append(item)
        if intervals_cover_everyone(version, (iv for _, ivs in taken for iv in ivs)):
            break
    else:
        return []
    for item in reversed(list(taken)):
        rest = [t for t in taken if t is not item]
        if rest and intervals_cover_everyone(version, (iv for _, ivs in rest for iv in ivs)):
            taken = rest
    return [t for t, _ in taken]


def is_internal(address: str) -> bool:
    """Whether an address is not on the public internet (private, ULA, loopback, link-local, CGNAT,
    documentation, multicast...): Snapback never blocks those, whatever a finding says."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return True  # not an address at all: never acted on
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast
