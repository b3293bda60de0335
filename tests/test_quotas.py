"""Quota arithmetic (router.state.quotas): nominal, cohort lending and borrowing, reclaim."""

from __future__ import annotations

from router.state.quotas import (
    Holding,
    Limit,
    QuotaPolicy,
    TenantQuota,
    check,
    headroom,
    reclaim,
    refusal,
)


def _policy(*quotas: TenantQuota) -> QuotaPolicy:
    return QuotaPolicy({q.tenant: q for q in quotas})


RESEARCH = TenantQuota(
    "research",
    {"A800": Limit(512, borrowing_limit=256, lending_limit=128)},
    cohort="ai-lab",
    weight=2,
)
SERVING = TenantQuota(
    "serving", {"A800": Limit(512, lending_limit=300)}, cohort="ai-lab", reclaim_within_cohort=True
)
POLICY = _policy(RESEARCH, SERVING)


def test_a_tenant_without_quota_is_not_limited() -> None:
    assert headroom(POLICY, {}, "ops", "A800") is None
    assert refusal(POLICY, {}, "ops", "A800", 10**6) is None


def test_alone_a_tenant_gets_its_nominal_and_no_more() -> None:
    policy = _policy(TenantQuota("solo", {"A800": Limit(512)}))
    assert refusal(policy, {("solo", "A800"): 448}, "solo", "A800", 64) is None
    why = refusal(policy, {("solo", "A800"): 512}, "solo", "A800", 1)
    assert why == "quota: solo holds 512 of 512 A800"


def test_the_star_key_covers_types_not_listed_and_other_types_get_nothing() -> None:
    policy = _policy(TenantQuota("a", {"*": Limit(10)}), TenantQuota("b", {"H800": Limit(8)}))
    assert refusal(policy, {("a", "H800"): 6}, "a", "A800", 4) is None
    assert refusal(policy, {("a", "H800"): 6}, "a", "A800", 5) is not None
    assert refusal(policy, {}, "b", "A800", 1) == "quota: b has no quota for A800"


def test_borrowing_stops_at_the_borrowers_limit() -> None:
    room = headroom(POLICY, {("research", "A800"): 512}, "research", "A800")
    assert room is not None and room.available == 256  # serving lends 300, limit 256
    why = refusal(POLICY, {("research", "A800"): 768}, "research", "A800", 1)
    assert why is not None
    assert why.startswith("quota: research holds 768 of 512 A800; cohort ai-lab has 44 to lend")
    assert "borrowing limit 256 reached" in why


def test_borrowing_stops_at_the_lenders_lending_limit() -> None:
    # serving keeps 512 - 300 = 212 for itself; research may borrow 300 at most (limit 256)
    room = headroom(POLICY, {("research", "A800"): 512}, "research", "A800")
    assert room is not None and room.available == 256
    # serving may borrow research's lendable 128, nothing more
    room = headroom(POLICY, {("serving", "A800"): 512}, "serving", "A800")
    assert room is not None and room.available == 128


def test_lent_quota_is_not_available_to_its_owner_until_returned() -> None:
    usage = {("research", "A800"): 768, ("serving", "A800"): 200}
    room = headroom(POLICY, usage, "serving", "A800")
    # serving's unlendable 212 is its own; of its lendable 300, research drew 256
    assert room is not None and room.available == 512 - 256 - 200
    assert "cohort ai-lab has 0 to lend" in room.reason


def test_several_borrowers_share_by_weight() -> None:
    a = TenantQuota("a", {"A800": Limit(100)}, cohort="c", weight=3)
    b = TenantQuota("b", {"A800": Limit(100)}, cohort="c", weight=1)
    lender = TenantQuota("l", {"A800": Limit(1000)}, cohort="c")
    policy = _policy(a, b, lender)
    # b borrows too: a's share of the 1,100 its peers lend is 3/4 (950 are unused)
    usage = {("a", "A800"): 100, ("b", "A800"): 150}
    room = headroom(policy, usage, "a", "A800")
    assert room is not None and room.available == 825
    assert "its weighted share of borrowing is 825" in room.reason
    # alone, a may borrow everything its peers have unused
    room = headroom(policy, {("a", "A800"): 100}, "a", "A800")
    assert room is not None and room.available == 1100


def test_check_admits_additions_in_turn() -> None:
    policy = _policy(TenantQuota("solo", {"A800": Limit(100)}))
    assert check(policy, {}, [("solo", "A800", 60), ("solo", "A800", 40)]) is None
    assert check(policy, {}, [("solo", "A800", 60), ("solo", "A800", 41)]) is not None


def test_reclaim_evicts_the_newest_borrowed_reservations_and_no_more() -> None:
    held = [
        Holding("r1", "research", "A800", 512, 1.0),  # research's nominal
        Holding("r2", "research", "A800", 128, 2.0),  # borrowed
        Holding("r3", "research", "A800", 128, 3.0),  # borrowed, newest
        Holding("s1", "serving", "A800", 212, 1.5),
    ]
    # serving asks for 64 more: research drew 256 of serving's 300 lendable
    taken = reclaim(POLICY, held, "serving", "A800", 64)
    assert taken is not None and [h.reservation_id for h in taken] == ["r3"]
    # up to its nominal: 300 more needs both borrowed ones back
    taken = reclaim(POLICY, held, "serving", "A800", 300)
    assert taken is not None and [h.reservation_id for h in taken] == ["r3", "r2"]
    # never beyond nominal
    assert reclaim(POLICY, held, "serving", "A800", 301) is None


def test_reclaim_needs_the_right_and_leaves_non_borrowers_alone() -> None:
    held = [
        Holding("s1", "serving", "A800", 512 + 128, 1.0),
        Holding("r1", "research", "A800", 1, 2.0),
    ]
    # research lacks reclaim_within_cohort
    assert reclaim(POLICY, held, "research", "A800", 64) is None
    lender = TenantQuota("l", {"A800": Limit(100)}, cohort="c", reclaim_within_cohort=True)
    other = TenantQuota("o", {"A800": Limit(100)}, cohort="c")
    policy = _policy(lender, other)
    held = [Holding("o1", "o", "A800", 100, 1.0)]  # at its nominal, not borrowing
    assert reclaim(policy, held, "l", "A800", 50) == []  # room without evicting
    held = [Holding("o1", "o", "A800", 100, 1.0), Holding("o2", "o", "A800", 100, 2.0)]
    taken = reclaim(policy, held, "l", "A800", 100)
    assert taken is not None and [h.reservation_id for h in taken] == ["o2"]
