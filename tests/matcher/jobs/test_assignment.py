"""The capacity-aware assignment is optimal (by hand and by brute force) and explains what it cannot do."""

from __future__ import annotations

import csv
import itertools
import random
import time
from collections.abc import Iterator, Sequence
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matcher.errors import InvalidInputError
from matcher.jobs.assignment import (
    AssignedPair,
    Assignment,
    Bottleneck,
    Candidate,
    NeedSlot,
    OfferSlot,
    Preferences,
    Shortfall,
    assign,
)
from models import vocabularies as vocab


def pairs_of(result: Assignment) -> list[tuple[int, int]]:
    return [(p.need_id, p.offer_id) for p in result.pairs]


# ------------------------------------------------------------------------------ hand-checkable optimum


def test_a_hand_checked_case_where_greedy_is_wrong() -> None:
    # Three offers of capacity 1, one provider per need, every need should get one.
    #          offer 10   offer 20   offer 30
    # need 1     0.90       0.80        -
    # need 2     0.85        -         0.30
    # need 3      -         0.70       0.60
    # Greedy (best pair first) takes 1-10 (0.90), then 3-20 (0.70) and 2-30 (0.30): 1.90.
    # Serving all three needs with three single-capacity offers is a perfect matching, and there are only two:
    #   1-10, 2-30, 3-20 = 0.90 + 0.30 + 0.70 = 1.90
    #   1-20, 2-10, 3-30 = 0.80 + 0.85 + 0.60 = 2.25   <- the optimum
    # Any other choice leaves a need without a provider, which the minimum forbids while a matching exists.
    needs = [NeedSlot(1, None), NeedSlot(2, None), NeedSlot(3, None)]
    offers = [OfferSlot(10, 1), OfferSlot(20, 1), OfferSlot(30, 1)]
    candidates = [
        Candidate(1, 10, 0.90),
        Candidate(1, 20, 0.80),
        Candidate(2, 10, 0.85),
        Candidate(2, 30, 0.30),
        Candidate(3, 20, 0.70),
        Candidate(3, 30, 0.60),
    ]
    result = assign(needs, offers, candidates, per_need=1, min_per_need=1)
    assert pairs_of(result) == [(1, 20), (2, 10), (3, 30)]
    assert result.total_score == pytest.approx(2.25)
    assert result.total_adjusted == pytest.approx(2.25)
    assert result.load == {10: 1, 20: 1, 30: 1}
    assert result.feasible and result.message is None and result.shortfalls == [] and result.bottlenecks == []


def test_minimums_come_before_score() -> None:
    # Need 1 could take both offers (0.9 + 0.8 = 1.7 is the best score), but need 2 would then get none.
    # Minimums first: need 1 keeps its best offer, need 2 gets offer 20: 0.9 + 0.1 = 1.0.
    needs = [NeedSlot(1, None), NeedSlot(2, None)]
    offers = [OfferSlot(10, 1), OfferSlot(20, 1)]
    candidates = [Candidate(1, 10, 0.9), Candidate(1, 20, 0.8), Candidate(2, 20, 0.1)]
    result = assign(needs, offers, candidates, per_need=2, min_per_need=1)
    assert pairs_of(result) == [(1, 10), (2, 20)]
    assert result.total_score == pytest.approx(1.0)
    # Without minimums the score alone decides.
    free = assign(needs, offers, candidates, per_need=2, min_per_need=0)
    assert pairs_of(free) == [(1, 10), (1, 20)]
    assert free.feasible


def test_unlimited_capacity_and_extra_slots_only_for_gains() -> None:
    # Offer 10 is unlimited; a pair with a negative score is used only to reach a minimum.
    needs = [NeedSlot(1, None), NeedSlot(2, None)]
    offers = [OfferSlot(10, None), OfferSlot(20, 5)]
    candidates = [Candidate(1, 10, 0.5), Candidate(1, 20, -0.2), Candidate(2, 10, 0.4), Candidate(2, 20, -0.1)]
    assert pairs_of(assign(needs, offers, candidates, per_need=2, min_per_need=1)) == [(1, 10), (2, 10)]
    both = assign(needs, offers, candidates, per_need=2, min_per_need=2)
    assert pairs_of(both) == [(1, 10), (1, 20), (2, 10), (2, 20)]
    assert both.load == {10: 2, 20: 2}


def test_result_does_not_depend_on_input_order() -> None:
    # Every pair scores the same, so many assignments are optimal: the ids decide, not the input order.
    needs = [NeedSlot(n, None) for n in range(1, 6)]
    offers = [OfferSlot(o, 2) for o in range(10, 14)]
    candidates = [Candidate(n, o, 0.5) for n in range(1, 6) for o in range(10, 14)]
    first = assign(needs, offers, candidates, per_need=2)
    rng = random.Random(7)
    for _ in range(3):
        rng.shuffle(needs)
        rng.shuffle(offers)
        rng.shuffle(candidates)
        assert assign(needs, offers, candidates, per_need=2) == first


# ------------------------------------------------------------------------------ brute force agreement

# The groups of the countries used below, written out so the check does not reuse the vocabulary code.
SOUTH = {"HTI": True, "FJI": True, "KEN": True, "BRA": True, "FRA": False, "JPN": False}
PRIORITY = {"HTI": True, "FJI": True, "KEN": False, "BRA": False, "FRA": False, "JPN": False}
COUNTRIES = [None, *SOUTH]


def bonus(need: NeedSlot, offer: OfferSlot, prefs: Preferences) -> float:
    value = 0.0
    if need.party and offer.country and SOUTH[need.party] and SOUTH[offer.country]:
        value += prefs.south_south
    if need.party and PRIORITY[need.party]:
        value += prefs.ldc_sids
    return value


def choices(candidates: Sequence[Candidate], per_need: int) -> Iterator[tuple[Candidate, ...]]:
    for size in range(min(per_need, len(candidates)) + 1):
        yield from itertools.combinations(candidates, size)


def brute_force(
    needs: Sequence[NeedSlot],
    offers: Sequence[OfferSlot],
    candidates: Sequence[Candidate],
    *,
    per_need: int,
    min_per_need: int,
    prefs: Preferences,
) -> tuple[int, float]:
    """The best (minimum slots filled, adjusted total) over every assignment that respects the limits."""
    need_by_id = {n.need_id: n for n in needs}
    offer_by_id = {o.offer_id: o for o in offers}
    by_need = [[c for c in candidates if c.need_id == n.need_id] for n in needs]
    best = (-1, float("-inf"))
    for combo in itertools.product(*(list(choices(cs, per_need)) for cs in by_need)):
        chosen = [c for part in combo for c in part]
        load: dict[int, int] = {}
        for c in chosen:
            load[c.offer_id] = load.get(c.offer_id, 0) + 1
        if any(
            offer_by_id[o].capacity is not None and count > (offer_by_id[o].capacity or 0)
            for o, count in load.items()
        ):
            continue
        slots = sum(min(len(part), min_per_need) for part in combo)
        total = sum(c.score + bonus(need_by_id[c.need_id], offer_by_id[c.offer_id], prefs) for c in chosen)
        if (slots, total) > best:
            best = (slots, total)
    return best


@st.composite
def instances(draw: st.DrawFn) -> tuple[list[NeedSlot], list[OfferSlot], list[Candidate], int, int, Preferences]:
    n_needs = draw(st.integers(1, 4))
    n_offers = draw(st.integers(1, 4))
    needs = [NeedSlot(n, draw(st.sampled_from(COUNTRIES))) for n in range(1, n_needs + 1)]
    offers = [
        OfferSlot(o, draw(st.one_of(st.none(), st.integers(0, 2))), draw(st.sampled_from(COUNTRIES)))
        for o in range(101, 101 + n_offers)
    ]
    pairs = draw(st.sets(st.tuples(st.integers(1, n_needs), st.integers(101, 100 + n_offers))))
    # Scores on a 0.05 grid, some negative: ties happen, and negative pairs are worth it only for minimums.
    candidates = [Candidate(n, o, draw(st.integers(-4, 20)) / 20) for n, o in sorted(pairs)]
    per_need = draw(st.integers(1, 2))
    min_per_need = draw(st.integers(0, 1))
    prefs = Preferences(draw(st.sampled_from([0.0, 0.25])), draw(st.sampled_from([0.0, 0.5])))
    return needs, offers, candidates, per_need, min_per_need, prefs


@settings(max_examples=300, deadline=None)
@given(instances())
def test_assign_matches_brute_force(
    instance: tuple[list[NeedSlot], list[OfferSlot], list[Candidate], int, int, Preferences],
) -> None:
    needs, offers, candidates, per_need, min_per_need, prefs = instance
    result = assign(needs, offers, candidates, per_need=per_need, min_per_need=min_per_need, preferences=prefs)

    # The result respects every limit.
    candidate_pairs = {(c.need_id, c.offer_id): c.score for c in candidates}
    chosen = pairs_of(result)
    assert len(set(chosen)) == len(chosen) and set(chosen) <= set(candidate_pairs)
    got = {n.need_id: sum(1 for p in chosen if p[0] == n.need_id) for n in needs}
    assert all(count <= per_need for count in got.values())
    for o in offers:
        assert result.load[o.offer_id] == sum(1 for p in chosen if p[1] == o.offer_id)
        assert o.capacity is None or result.load[o.offer_id] <= o.capacity

    # Its objective equals the exhaustive optimum (pairs may differ on exact ties).
    slots = sum(min(count, min_per_need) for count in got.values())
    best_slots, best_total = brute_force(
        needs, offers, candidates, per_need=per_need, min_per_need=min_per_need, prefs=prefs
    )
    assert slots == best_slots
    assert result.total_adjusted == pytest.approx(best_total, abs=1e-9)
    assert result.total_score == pytest.approx(sum(candidate_pairs[p] for p in chosen), abs=1e-9)

    # Every short need is reported, with a reason that holds.
    assert [s.need_id for s in result.shortfalls] == sorted(n for n, count in got.items() if count < min_per_need)
    assert result.feasible == (best_slots == min_per_need * len(needs))
    assert (result.message is None) == result.feasible
    capacity = {o.offer_id: o.capacity for o in offers}
    for s in result.shortfalls:
        mine = [o for n, o in candidate_pairs if n == s.need_id]
        assert s.got == got[s.need_id] and s.wanted == min_per_need
        if s.reason == "no_candidate":
            assert not mine
        elif s.reason == "too_few_candidates":
            assert len(mine) == s.got < min_per_need
        else:
            assert s.offer_ids and all(result.load[o] == capacity[o] for o in s.offer_ids)
            if s.reason == "candidates_full":
                assert all(capacity[o] == 0 for o in s.offer_ids)
    assert {b.offer_id for b in result.bottlenecks} == {o for s in result.shortfalls for o in s.offer_ids}


# ------------------------------------------------------------------------------ preferences


def test_south_south_bonus_flips_the_choice_to_a_southern_provider() -> None:
    needs = [NeedSlot(1, "KEN")]
    offers = [OfferSlot(10, 1, country="FRA"), OfferSlot(20, 1, country="BRA")]
    candidates = [Candidate(1, 10, 0.80), Candidate(1, 20, 0.70)]
    assert pairs_of(assign(needs, offers, candidates, per_need=1)) == [(1, 10)]
    preferred = assign(needs, offers, candidates, per_need=1, preferences=Preferences(south_south=0.2))
    # 0.70 + 0.20 = 0.90 beats 0.80 (France is not in the Global South, so offer 10 gets no bonus).
    assert preferred.pairs == [AssignedPair(1, 20, 0.70, pytest.approx(0.90))]  # type: ignore[arg-type]
    assert preferred.total_score == pytest.approx(0.70)
    assert preferred.total_adjusted == pytest.approx(0.90)


def test_ldc_sids_priority_gives_the_only_capacity_to_the_ldc_need() -> None:
    needs = [NeedSlot(1, "BRA", "Pollinator survey"), NeedSlot(2, "HTI", "Mangrove nursery")]
    offers = [OfferSlot(10, 1, title="Field training")]
    candidates = [Candidate(1, 10, 0.80), Candidate(2, 10, 0.70)]
    assert pairs_of(assign(needs, offers, candidates, per_need=1)) == [(1, 10)]
    preferred = assign(needs, offers, candidates, per_need=1, preferences=Preferences(ldc_sids=0.2))
    # Haiti is an LDC and a SIDS: 0.70 + 0.20 = 0.90 beats Brazil's 0.80.
    assert pairs_of(preferred) == [(2, 10)]
    assert preferred.shortfalls == [Shortfall(1, 0, 1, "capacity", (10,))]


def test_preferences_reject_negative_bonuses_and_unknown_countries() -> None:
    with pytest.raises(ValueError, match="south_south"):
        Preferences(south_south=-0.1)
    needs = [NeedSlot(1, "XXZ")]
    offers = [OfferSlot(10, 1)]
    with pytest.raises(InvalidInputError, match="need 1"):
        assign(needs, offers, [Candidate(1, 10, 0.5)], preferences=Preferences(ldc_sids=0.1))
    # Without a preference that needs it, the country is not looked at.
    assert pairs_of(assign(needs, offers, [Candidate(1, 10, 0.5)])) == [(1, 10)]


# ------------------------------------------------------------------------------ infeasibility


def test_two_needs_competing_for_one_offer_names_the_offer_both_needs_and_the_winner() -> None:
    needs = [NeedSlot(3, "KEN", "Mangrove restoration"), NeedSlot(4, "PER", "Seagrass survey")]
    offers = [OfferSlot(12, 1, title="Wetland mapping")]
    candidates = [Candidate(3, 12, 0.9), Candidate(4, 12, 0.5)]
    result = assign(needs, offers, candidates, per_need=1, min_per_need=1)
    assert pairs_of(result) == [(3, 12)]
    assert not result.feasible
    assert result.shortfalls == [Shortfall(4, 0, 1, "capacity", (12,))]
    assert result.bottlenecks == [Bottleneck(12, 1, (3, 4), (3,))]
    assert result.message == (
        "1 need cannot get 1 provider: needs 3 and 4 compete for offer 12 'Wetland mapping' "
        "(capacity 1, given to need 3): need 4 'Seagrass survey' gets 0 of 1 "
        "(raise its capacity or add candidates)"
    )


def test_a_need_without_candidates_is_named() -> None:
    needs = [NeedSlot(1, None, "Pollinator survey"), NeedSlot(7, None, "Seed banks")]
    result = assign(needs, [OfferSlot(10, 1)], [Candidate(1, 10, 0.5)], per_need=1)
    assert result.shortfalls == [Shortfall(7, 0, 1, "no_candidate")]
    assert result.bottlenecks == []
    assert result.message == (
        "1 need cannot get 1 provider: need 7 'Seed banks' has no candidate at all (rank it, or relax its filters)"
    )


def test_a_need_whose_only_candidate_is_full_is_named_with_the_full_offer() -> None:
    needs = [NeedSlot(5, None, "Invasive species control")]
    offers = [OfferSlot(9, 0, title="Drone surveys")]
    result = assign(needs, offers, [Candidate(5, 9, 0.8)], per_need=2)
    assert result.pairs == [] and result.load == {9: 0}
    assert result.shortfalls == [Shortfall(5, 0, 1, "candidates_full", (9,))]
    assert result.bottlenecks == [Bottleneck(9, 0, (5,), ())]
    assert result.message is not None
    assert "need 5 'Invasive species control' gets 0 of 1: all its candidates are full" in result.message
    assert "offer 9 'Drone surveys' (capacity 0: full)" in result.message


def test_too_few_candidates_for_the_minimum() -> None:
    result = assign([NeedSlot(1, None)], [OfferSlot(10, 3)], [Candidate(1, 10, 0.5)], per_need=3, min_per_need=2)
    assert pairs_of(result) == [(1, 10)]
    assert result.shortfalls == [Shortfall(1, 1, 2, "too_few_candidates")]
    assert result.message == (
        "1 need cannot get 2 providers: need 1 has only 1 candidate (rank it more widely, or lower min_per_need)"
    )


def test_the_bottleneck_is_the_min_cut_not_just_the_short_needs_own_candidates() -> None:
    # Need 1 wants offers 10 and 20, need 2 only 10, need 3 only 20; both offers have capacity 1.
    # Best: 1-10 (0.9) and 3-20 (0.5), so need 2 goes short. Raising offer 20 would help it too (need 1 would
    # move to 20 and free 10), so both offers are its bottleneck although need 2 never asked for 20.
    needs = [NeedSlot(1, None), NeedSlot(2, None), NeedSlot(3, None)]
    offers = [OfferSlot(10, 1, title="A"), OfferSlot(20, 1, title="B")]
    candidates = [Candidate(1, 10, 0.9), Candidate(1, 20, 0.1), Candidate(2, 10, 0.5), Candidate(3, 20, 0.5)]
    result = assign(needs, offers, candidates, per_need=1)
    assert pairs_of(result) == [(1, 10), (3, 20)]
    assert result.shortfalls == [Shortfall(2, 0, 1, "capacity", (10, 20))]
    assert result.bottlenecks == [Bottleneck(10, 1, (1, 2), (1,)), Bottleneck(20, 1, (1, 3), (3,))]
    assert result.message == (
        "1 need cannot get 1 provider: needs 1, 2 and 3 compete for offer 10 'A' (capacity 1, given to need 1) "
        "and offer 20 'B' (capacity 1, given to need 3) (together capacity 2): need 2 gets 0 of 1 "
        "(raise one of their capacities or add candidates)"
    )


def test_several_kinds_of_shortfall_in_one_message() -> None:
    needs = [NeedSlot(n, None) for n in (1, 2, 3, 4)]
    offers = [OfferSlot(10, 1), OfferSlot(20, 0)]
    candidates = [Candidate(1, 10, 0.9), Candidate(2, 10, 0.5), Candidate(3, 20, 0.5)]
    result = assign(needs, offers, candidates, per_need=1)
    assert [(s.need_id, s.reason) for s in result.shortfalls] == [
        (2, "capacity"),
        (3, "candidates_full"),
        (4, "no_candidate"),
    ]
    assert result.message is not None and result.message.startswith("3 needs cannot get 1 provider: ")
    assert "need 4 has no candidate at all" in result.message
    assert "need 3 gets 0 of 1: all its candidates are full: offer 20 (capacity 0: full)" in result.message
    assert "needs 1 and 2 compete for offer 10 (capacity 1, given to need 1): need 2 gets 0 of 1" in result.message


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(per_need=0), "per_need"),
        (dict(per_need=1, min_per_need=2), "min_per_need"),
        (dict(candidates=[Candidate(1, 10, 0.5), Candidate(1, 10, 0.6)]), "given twice"),
        (dict(candidates=[Candidate(2, 10, 0.5)]), "need 2"),
        (dict(candidates=[Candidate(1, 11, 0.5)]), "offer 11"),
        (dict(candidates=[Candidate(1, 10, float("nan"))]), "score"),
        (dict(offers=[OfferSlot(10, -1)]), "capacity -1"),
        (dict(offers=[OfferSlot(10, 1), OfferSlot(10, 2)]), "offer 10 is given twice"),
    ],
)
def test_bad_input_is_rejected_with_a_reason(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = dict(needs=[NeedSlot(1, None)], offers=[OfferSlot(10, 1)], candidates=[])
    args.update(kwargs)
    with pytest.raises(InvalidInputError, match=match):
        assign(**args)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ scale


@pytest.mark.slow
def test_scale_two_thousand_needs_fifty_candidates_each() -> None:
    rng = random.Random(0)
    n_needs, per_candidate, n_offers = 2_000, 50, 5_000
    needs = [NeedSlot(n, None) for n in range(n_needs)]
    offers = [OfferSlot(o, rng.choice([None, 0, 1, 1, 2, 3])) for o in range(n_offers)]
    candidates = [
        Candidate(n, o, rng.random()) for n in range(n_needs) for o in rng.sample(range(n_offers), per_candidate)
    ]
    start = time.perf_counter()
    result = assign(needs, offers, candidates, per_need=3, min_per_need=1)
    elapsed = time.perf_counter() - start
    print(f"assign: {n_needs} needs x {per_candidate} candidates over {n_offers} offers in {elapsed:.1f} s")
    capacity = {o.offer_id: o.capacity for o in offers}
    assert all(c is None or result.load[o] <= c for o, c in capacity.items())
    per_need = {n.need_id: 0 for n in needs}
    for p in result.pairs:
        per_need[p.need_id] += 1
    assert max(per_need.values()) == 3
    assert [s.need_id for s in result.shortfalls] == [n for n, count in per_need.items() if count < 1]


@pytest.mark.slow
def test_scale_under_heavy_contention_the_message_stays_short() -> None:
    # 2,000 needs share 500 single-capacity offers: 1,500 must go short, all in one competing group.
    rng = random.Random(1)
    needs = [NeedSlot(n, None, f"Need {n}") for n in range(2_000)]
    offers = [OfferSlot(o, 1, title=f"Offer {o}") for o in range(500)]
    candidates = [Candidate(n, o, rng.random()) for n in range(2_000) for o in rng.sample(range(500), 50)]
    start = time.perf_counter()
    result = assign(needs, offers, candidates, per_need=3, min_per_need=1)
    print(f"assign under contention: {time.perf_counter() - start:.1f} s")
    assert len(result.pairs) == 500 and len(result.shortfalls) == 1_500
    assert {s.reason for s in result.shortfalls} == {"capacity"}
    assert len(result.bottlenecks) == 500
    assert result.message is not None and len(result.message) < 1_000
    assert "and 495 more offers (together capacity 500)" in result.message


# ------------------------------------------------------------------------------ country groups


def group_rows() -> list[dict[str, str]]:
    text = resources.files("models").joinpath("data", "country_groups.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def test_country_groups_cover_exactly_the_known_countries() -> None:
    rows = group_rows()
    codes = [r["alpha3"] for r in rows]
    assert len(codes) == len(set(codes))
    assert set(codes) == set(vocab.countries())
    assert all(r[g] in {"0", "1"} for r in rows for g in ("ldc", "sids", "developed"))
    assert sum(r["ldc"] == "1" for r in rows) == 44  # the UN list as of December 2024
    assert not any(r["ldc"] == "1" and r["developed"] == "1" for r in rows)
    assert not any(r["sids"] == "1" and r["developed"] == "1" for r in rows)


@pytest.mark.parametrize(
    ("code", "ldc", "sids", "south"),
    [
        ("HTI", True, True, True),
        ("FJI", False, True, True),
        ("KEN", False, False, True),
        ("BRA", False, False, True),
        ("FRA", False, False, False),
        ("JPN", False, False, False),
        ("BTN", False, False, True),  # graduated from the LDC list in 2023
        ("STP", False, True, True),  # graduated from the LDC list in 2024, still a SIDS
        ("TUV", True, True, True),
        ("SGP", False, True, True),
        ("CAN", False, False, False),
        ("NZL", False, False, False),
        ("ISR", False, False, False),
    ],
)
def test_country_group_spot_checks(code: str, ldc: bool, sids: bool, south: bool) -> None:
    assert (vocab.is_ldc(code), vocab.is_sids(code), vocab.in_global_south(code)) == (ldc, sids, south)


def test_country_groups_accept_alpha2_and_reject_unknown_codes() -> None:
    assert vocab.is_ldc("ht") and not vocab.in_global_south("fr")
    with pytest.raises(vocab.UnknownTermError):
        vocab.is_sids("XXZ")
