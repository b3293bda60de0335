"""Tenant quotas: pure arithmetic over devices held, Kueue's model (nominal, cohorts, limits).

Each tenant has, per accelerator type (or "*" for any type it does not list), a `nominal`
quota it is guaranteed. Tenants of one cohort lend their unused nominal to each other:
a member lends at most its `lending_limit` (default: all of its nominal), so
`nominal - lending_limit` stays its own; a borrower takes at most its `borrowing_limit`
beyond its nominal. Everything lent forms the cohort's pool; a member's use above its
unlendable part draws on that pool, and the pool is never overdrawn. While several members
borrow, each borrower's borrowing is capped at its `weight`'s share of what its peers lend.
Sharing is per quota key: an "A800" quota lends only to other "A800" quotas.

No I/O: the ledgers call `refusal` inside their committing transaction and the engine asks
`headroom` / `reclaim` when it chooses; both see the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

ANY_TYPE = "*"

Usage = Mapping[tuple[str, str], int]
"""Devices held by active reservations, per (tenant, accelerator type)."""


@dataclass(frozen=True)
class Limit:
    """One quota key's limits in devices (None: the default described above)."""

    nominal: int
    borrowing_limit: int | None = None
    lending_limit: int | None = None

    @property
    def lendable(self) -> int:
        """The part of the nominal the cohort may borrow."""
        lend = self.nominal if self.lending_limit is None else self.lending_limit
        return min(lend, self.nominal)


@dataclass(frozen=True)
class TenantQuota:
    """A tenant's quota keys, cohort, borrowing weight and reclaim right."""

    tenant: str
    limits: Mapping[str, Limit]
    cohort: str = ""
    weight: float = 1.0
    reclaim_within_cohort: bool = False

    def key_for(self, accelerator: str) -> str | None:
        """The quota key devices of `accelerator` count against (None: not allowed)."""
        if accelerator in self.limits:
            return accelerator
        return ANY_TYPE if ANY_TYPE in self.limits else None


@dataclass(frozen=True)
class QuotaPolicy:
    """Every governed tenant's quota; tenants not listed hold devices without limit."""

    tenants: Mapping[str, TenantQuota] = field(default_factory=dict)

    def sharing(self, tenants: Iterable[str]) -> set[str]:
        """The governed tenants among `tenants` and their cohorts' members: whose holdings
        their quotas depend on."""
        governed = [self.tenants[t] for t in tenants if t in self.tenants]
        cohorts = {q.cohort for q in governed if q.cohort}
        return {q.tenant for q in governed} | {
            q.tenant for q in self.tenants.values() if q.cohort and q.cohort in cohorts
        }

    def peers(self, quota: TenantQuota, key: str) -> list[TenantQuota]:
        """The other members of the tenant's cohort that have the same quota key."""
        if not quota.cohort:
            return []
        return [
            q
            for q in self.tenants.values()
            if q.cohort == quota.cohort and q.tenant != quota.tenant and key in q.limits
        ]


class Holding(NamedTuple):
    """An active reservation as quotas see it."""

    reservation_id: str
    tenant: str
    accelerator: str
    devices: int
    created_unix_s: float
    expires_unix_s: float | None = None


@dataclass(frozen=True)
class Headroom:
    """How many more devices of a type a tenant may hold now, and the words for a refusal."""

    available: int
    reason: str


def used(policy: QuotaPolicy, usage: Usage, tenant: str, key: str) -> int:
    """Devices the tenant holds that count against quota `key`."""
    quota = policy.tenants[tenant]
    return sum(n for (t, a), n in usage.items() if t == tenant and quota.key_for(a) == key)


def headroom(policy: QuotaPolicy, usage: Usage, tenant: str, accelerator: str) -> Headroom | None:
    """The devices of `accelerator` the tenant may still take (None: no quota applies)."""
    quota = policy.tenants.get(tenant)
    if quota is None:
        return None
    key = quota.key_for(accelerator)
    if key is None:
        return Headroom(0, f"quota: {tenant} has no quota for {accelerator}")
    limit = quota.limits[key]
    held = used(policy, usage, tenant, key)
    reason = f"quota: {tenant} holds {held} of {limit.nominal} {key}"
    peers = policy.peers(quota, key)
    if not quota.cohort:
        return Headroom(max(0, limit.nominal - held), reason)
    peer_use = {p.tenant: used(policy, usage, p.tenant, key) for p in peers}
    peer_limits = {p.tenant: p.limits[key] for p in peers}
    lent_by_peers = sum(lim.lendable for lim in peer_limits.values())
    drawn_by_peers = sum(
        max(0, peer_use[t] - (lim.nominal - lim.lendable)) for t, lim in peer_limits.items()
    )
    own_part = limit.nominal - limit.lendable  # never lent: always the tenant's own
    pool_bound = max(own_part, limit.nominal + lent_by_peers - drawn_by_peers) - held
    borrow_bound = (
        math.inf if limit.borrowing_limit is None else limit.nominal + limit.borrowing_limit - held
    )
    borrowers = [p for p in peers if peer_use[p.tenant] > p.limits[key].nominal]
    share_bound = math.inf
    share = 0
    if borrowers:
        weights = quota.weight + sum(p.weight for p in borrowers)
        share = math.floor(lent_by_peers * quota.weight / weights)
        share_bound = limit.nominal + share - held
    to_lend = max(0, lent_by_peers - drawn_by_peers - max(0, held - limit.nominal))
    reason += f"; cohort {quota.cohort} has {to_lend} to lend"
    available = min(pool_bound, borrow_bound, share_bound)
    if available == borrow_bound and limit.borrowing_limit is not None:
        reason += f"; borrowing limit {limit.borrowing_limit} reached"
    elif available == share_bound and share_bound < pool_bound:
        reason += f"; its weighted share of borrowing is {share}"
    return Headroom(max(0, int(available)), reason)


def refusal(
    policy: QuotaPolicy, usage: Usage, tenant: str, accelerator: str, need: int
) -> str | None:
    """Why the tenant may not take `need` more devices of `accelerator` (None: it may)."""
    room = headroom(policy, usage, tenant, accelerator)
    if room is None or need <= room.available:
        return None
    return room.reason


def check(policy: QuotaPolicy, usage: Usage, adds: Iterable[tuple[str, str, int]]) -> str | None:
    """Admit (tenant, accelerator, devices) additions one after another; the first refusal."""
    now = dict(usage)
    for tenant, accelerator, need in adds:
        why = refusal(policy, now, tenant, accelerator, need)
        if why is not None:
            return why
        now[(tenant, accelerator)] = now.get((tenant, accelerator), 0) + need
    return None


class BatchQuotas:
    """Quotas as side resources of a batch plan, so the solver keeps every tenant within
    its quota (a constraint, not a filter after the plan).

    One resource per governed (tenant, key) holding its headroom now, and one per (cohort,
    key) holding what the cohort's nominal quotas leave; a job's option on a type its tenant
    has no quota for uses a resource of capacity 0. The cohort resource is a relaxation
    when lending limits are below nominal: the ledger's commit check stays the authority.
    """

    def __init__(self, policy: QuotaPolicy, usage: Usage) -> None:
        self.policy = policy
        self.usage = dict(usage)
        self.capacities: list[int] = []
        self._rows: dict[tuple[str, str], int] = {}

    def rows_for(self, tenant: str, accelerator: str) -> list[int]:
        """The resources (indices into `capacities`) a job of `tenant` on `accelerator` uses."""
        quota = self.policy.tenants.get(tenant)
        if quota is None:
            return []
        key = quota.key_for(accelerator)
        if key is None:
            return [self._row(("", ""), lambda: 0)]
        rows = [self._row((tenant, key), lambda: self._headroom(tenant, accelerator))]
        if quota.cohort:
            rows.append(self._row((f"cohort {quota.cohort}", key), lambda: self._left(quota, key)))
        return rows

    def _row(self, name: tuple[str, str], capacity: Callable[[], int]) -> int:
        if name not in self._rows:
            self._rows[name] = len(self.capacities)
            self.capacities.append(max(0, capacity()))
        return self._rows[name]

    def _headroom(self, tenant: str, accelerator: str) -> int:
        room = headroom(self.policy, self.usage, tenant, accelerator)
        return 0 if room is None else room.available

    def _left(self, quota: TenantQuota, key: str) -> int:
        members = [quota, *self.policy.peers(quota, key)]
        return sum(
            m.limits[key].nominal - used(self.policy, self.usage, m.tenant, key) for m in members
        )


def violations(policy: QuotaPolicy, usage: Usage, tenant: str) -> list[str]:
    """How the tenant's holding breaks its quota now (none: within it): over nominal plus
    borrowing limit, or its cohort's pool overdrawn. Audits replay history through this."""
    quota = policy.tenants.get(tenant)
    if quota is None:
        return []
    found = []
    for key, limit in quota.limits.items():
        held = used(policy, usage, tenant, key)
        borrow = limit.borrowing_limit if quota.cohort else 0
        if borrow is not None and held > limit.nominal + borrow:
            found.append(f"{tenant} holds {held} {key}, more than {limit.nominal + borrow}")
        members = [quota, *policy.peers(quota, key)]
        pool = sum(m.limits[key].lendable for m in members)
        drawn = sum(
            max(
                0,
                used(policy, usage, m.tenant, key)
                - (m.limits[key].nominal - m.limits[key].lendable),
            )
            for m in members
        )
        if quota.cohort and drawn > pool:
            found.append(f"cohort {quota.cohort} drew {drawn} {key} of a pool of {pool}")
    return found


def audit(policy: QuotaPolicy, changes: Iterable[tuple[str, str, int]]) -> list[str]:
    """Replay (tenant, accelerator, device delta) changes in commit order; every moment a
    tenant was over its quota, said once per change that put it there."""
    usage: dict[tuple[str, str], int] = {}
    found: list[str] = []
    for tenant, accelerator, delta in changes:
        usage[(tenant, accelerator)] = usage.get((tenant, accelerator), 0) + delta
        if delta > 0:
            found += violations(policy, usage, tenant)
    return found


def usage_of(holdings: Iterable[Holding]) -> dict[tuple[str, str], int]:
    """Devices held per (tenant, accelerator)."""
    usage: dict[tuple[str, str], int] = {}
    for h in holdings:
        usage[(h.tenant, h.accelerator)] = usage.get((h.tenant, h.accelerator), 0) + h.devices
    return usage


def next_frees(
    policy: QuotaPolicy, holdings: Iterable[Holding], tenant: str, accelerator: str
) -> float | None:
    """When the first reservation counting against the tenant's quota pool ends by itself:
    its own or its cohort peers' under the same key (None: none has a ttl)."""
    quota = policy.tenants.get(tenant)
    key = None if quota is None else quota.key_for(accelerator)
    if quota is None or key is None:
        return None
    sharing = {tenant: quota} | {p.tenant: p for p in policy.peers(quota, key)}
    ends = [
        h.expires_unix_s
        for h in holdings
        if h.expires_unix_s is not None
        and h.tenant in sharing
        and sharing[h.tenant].key_for(h.accelerator) == key
    ]
    return min(ends, default=None)


def reclaim(
    policy: QuotaPolicy,
    holdings: Sequence[Holding],
    tenant: str,
    accelerator: str,
    need: int,
) -> list[Holding] | None:
    """The newest borrowed reservations to evict so the tenant can take `need` devices.

    Only for a tenant with reclaim_within_cohort whose holding stays within its nominal
    (reclaim gets it back to its nominal, never more); only reservations of peers that
    are borrowing at the time are taken, newest first, and no more than needed. None when
    reclaim does not apply or cannot make enough room; [] when no eviction is needed.
    """
    usage = usage_of(holdings)
    quota = policy.tenants.get(tenant)
    key = None if quota is None else quota.key_for(accelerator)
    if quota is None or key is None or not quota.reclaim_within_cohort:
        return None
    if used(policy, usage, tenant, key) + need > quota.limits[key].nominal:
        return None
    if refusal(policy, usage, tenant, accelerator, need) is None:
        return []
    peers = {p.tenant: p for p in policy.peers(quota, key)}
    evicted: list[Holding] = []
    for h in sorted(holdings, key=lambda h: h.created_unix_s, reverse=True):
        peer = peers.get(h.tenant)
        if peer is None or peer.key_for(h.accelerator) != key:
            continue
        if used(policy, usage, h.tenant, key) <= peer.limits[key].nominal:
            continue  # not borrowing (any more): its nominal is its own
        usage[(h.tenant, h.accelerator)] -= h.devices
        evicted.append(h)
        if refusal(policy, usage, tenant, accelerator, need) is None:
            return evicted
    return None
