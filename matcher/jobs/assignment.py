"""Capacity-aware assignment: a global choice of providers for the open needs.

The ranker scores (need, offer) pairs one need at a time; this module chooses among those candidates for all
needs at once. Each offer serves at most its capacity (concurrent engagements), each need receives at most
``per_need`` providers and at least ``min_per_need`` where that is possible at all, and a pair is used at
most once. The objective is lexicographic: first fill as many minimum slots as possible, then maximise the
total adjusted score (the ranker's score plus the configured preference bonuses).

The model is a min-cost flow (networkx's network simplex, exact on integer costs)::

    source ──(min_per_need, -M)──▶ min_n ──▶ need_n ──(1, -score_no)──▶ offer_o ──(capacity_o, 0)──▶ sink
       │ └───(per_need - min_per_need, 0)─────▶ need_n
       └──────────────────────────(everything, 0)──────────────────────────────────────────────────▶ sink

Scores are scaled to integers (micro-units) and negated, so a cheaper flow is a better assignment; the bypass
edge lets the solver send only the units that pay. ``M`` exceeds the sum of all scaled scores in absolute
value, so one more minimum slot outweighs any change of score: that makes the objective lexicographic.

When some needs stay below ``min_per_need`` the result says why, per need: no candidate at all, fewer
candidates than wanted, candidates that are all full (capacity 0), or competition for capacity. Competition is
read off the residual graph of the minimum slots (a maximum flow there, since the first objective is met):
the offers reachable from a short need are all saturated, and together they form its side of a minimum cut,
so raising one of their capacities (or adding candidates) is what can help it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import networkx as nx

from matcher.errors import InvalidInputError
from models import vocabularies as vocab

# Scores become integers in micro-units: network simplex is exact on integers and may cycle on floats.
_SCALE: int = 10**6
# Longest lists spelled out in a message; the rest is counted.
_MAX_LISTED: int = 6

_Slot = TypeVar("_Slot", "NeedSlot", "OfferSlot")

ShortfallReason = Literal["no_candidate", "too_few_candidates", "candidates_full", "capacity"]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A scored (need, offer) pair from the ranker; only candidate pairs can be assigned."""

    need_id: int
    offer_id: int
    score: float


@dataclass(frozen=True, slots=True)
class NeedSlot:
    """An open need to serve.

    Attributes:
        need_id: the need's primary key.
        party: ISO 3166-1 alpha-3 code of the Party that posted it (LDC/SIDS priority, South–South).
        title: used in messages only.
    """

    need_id: int
    party: str | None
    title: str = ""


@dataclass(frozen=True, slots=True)
class OfferSlot:
    """An offer that can serve needs.

    Attributes:
        offer_id: the offer's primary key.
        capacity: concurrent engagements it can take on; ``None`` is unlimited and ``0`` is full.
        country: alpha-3 code of the provider organisation's country (South–South preference).
        title: used in messages only.
    """

    offer_id: int
    capacity: int | None
    country: str | None = None
    title: str = ""


@dataclass(frozen=True, slots=True)
class Preferences:
    """Soft preferences, as bonuses added to a pair's score (in score units).

    Attributes:
        south_south: added when the provider's country and the need's Party are both in the Global South.
        ldc_sids: added to every pair of a need whose Party is a Least Developed Country or a Small Island
            Developing State, so that scarce capacity goes to those needs first.
    """

    south_south: float = 0.0
    ldc_sids: float = 0.0

    def __post_init__(self) -> None:
        for name in ("south_south", "ldc_sids"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"preference {name} must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class AssignedPair:
    """One provider given to one need; ``adjusted_score`` includes the preference bonuses."""

    need_id: int
    offer_id: int
    score: float
    adjusted_score: float


@dataclass(frozen=True, slots=True)
class Shortfall:
    """A need that receives fewer than ``min_per_need`` providers.

    Attributes:
        need_id: the need.
        got: providers it receives.
        wanted: ``min_per_need``.
        reason: ``no_candidate`` (the ranker gave it none), ``too_few_candidates`` (it receives every
            candidate it has), ``candidates_full`` (the candidates it lacks are all at capacity 0) or
            ``capacity`` (it loses to other needs for the capacity of ``offer_ids``).
        offer_ids: the offers whose capacity limits it (its side of the minimum cut), empty for the first two
            reasons.
    """

    need_id: int
    got: int
    wanted: int
    reason: ShortfallReason
    offer_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Bottleneck:
    """An offer whose capacity keeps a need below its minimum.

    Attributes:
        offer_id: the offer.
        capacity: its capacity (every one of its units is taken, or it is 0).
        need_ids: the needs competing for it: those it is given to and those on the short side that want it.
        given_to: the needs it is given to.
    """

    offer_id: int
    capacity: int
    need_ids: tuple[int, ...]
    given_to: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Assignment:
    """A global assignment of providers to needs, with the reasons for any need left short.

    Attributes:
        pairs: the assigned pairs, sorted by need then offer.
        total_score: sum of the ranker's scores of the pairs.
        total_adjusted: sum of the adjusted scores (what was maximised after the minimums).
        load: engagements per offer (every offer given, 0 included).
        shortfalls: needs below ``min_per_need``, by need id.
        bottlenecks: offers whose capacity is the limit for the short needs, by offer id.
        message: what to do about the shortfalls, or ``None`` when every need got its minimum.
    """

    pairs: list[AssignedPair]
    total_score: float
    total_adjusted: float
    load: dict[int, int]
    shortfalls: list[Shortfall] = field(default_factory=list)
    bottlenecks: list[Bottleneck] = field(default_factory=list)
    message: str | None = None

    @property
    def feasible(self) -> bool:
        """Whether every need received at least ``min_per_need`` providers."""
        return not self.shortfalls


def assign(
    needs: Iterable[NeedSlot],
    offers: Iterable[OfferSlot],
    candidates: Iterable[Candidate],
    *,
    per_need: int = 3,
    min_per_need: int = 1,
    preferences: Preferences = Preferences(),
) -> Assignment:
    """Choose providers for all needs at once under the offers' capacities.

    Lexicographic objective: first the number of filled minimum slots (``min(got, min_per_need)`` summed
    over needs), then the total adjusted score. The result is deterministic: inputs are sorted by id before
    the solver sees them, so the same inputs in any order give the same assignment.

    Args:
        needs: the open needs.
        offers: the offers that can serve them, with their capacities.
        candidates: the scored pairs that may be assigned; each pair at most once, for a need and an offer
            given above.
        per_need: most providers a need receives.
        min_per_need: providers each need should receive; needs that cannot are reported as shortfalls.
        preferences: bonuses for South–South pairs and for the needs of LDCs and SIDS.

    Returns:
        The assignment, its totals, the load per offer and the explanation of any shortfall.

    Raises:
        InvalidInputError: bad limits, duplicate ids or pairs, a pair naming an unknown need or offer, a
            negative capacity, a non-finite score, or an unknown country code when a preference needs it.
    """
    if per_need < 1:
        raise InvalidInputError(f"per_need must be >= 1, got {per_need}", field="per_need")
    if not 0 <= min_per_need <= per_need:
        raise InvalidInputError(
            f"min_per_need must be between 0 and per_need ({per_need}), got {min_per_need}", field="min_per_need"
        )
    need_by_id = _by_id(needs, lambda s: s.need_id, "need")
    offer_by_id = _by_id(offers, lambda s: s.offer_id, "offer")
    for offer in offer_by_id.values():
        if offer.capacity is not None and offer.capacity < 0:
            raise InvalidInputError(
                f"offer {offer.offer_id} has capacity {offer.capacity}; use 0 for a full offer", field="capacity"
            )
    scores = _candidate_scores(candidates, need_by_id, offer_by_id)
    adjusted = _adjusted_scores(scores, need_by_id, offer_by_id, preferences)

    candidates_of: dict[int, list[int]] = {n: [] for n in need_by_id}
    for n, o in scores:  # sorted pairs, so every list is sorted by offer id
        candidates_of[n].append(o)
    capacity = _capacities(offer_by_id, scores)

    chosen = _solve(candidates_of, capacity, adjusted, per_need=per_need, min_per_need=min_per_need)

    pairs = [AssignedPair(n, o, scores[n, o], adjusted[n, o]) for n, o in sorted(chosen)]
    load = dict.fromkeys(offer_by_id, 0)
    for pair in pairs:
        load[pair.offer_id] += 1
    shortfalls, bottlenecks = _explain(chosen, candidates_of, capacity, adjusted, min_per_need=min_per_need)
    return Assignment(
        pairs=pairs,
        total_score=math.fsum(p.score for p in pairs),
        total_adjusted=math.fsum(p.adjusted_score for p in pairs),
        load=load,
        shortfalls=shortfalls,
        bottlenecks=bottlenecks,
        message=_message(shortfalls, bottlenecks, need_by_id, offer_by_id, min_per_need=min_per_need)
        if shortfalls
        else None,
    )


# ------------------------------------------------------------------------------------------ inputs


def _by_id(items: Iterable[_Slot], id_of: Callable[[_Slot], int], kind: str) -> dict[int, _Slot]:
    """Items by id, sorted by id (the solver's input order, hence its tie-breaking, follows ids)."""
    out: dict[int, _Slot] = {}
    for item in items:
        key = id_of(item)
        if key in out:
            raise InvalidInputError(f"{kind} {key} is given twice", field=f"{kind}s")
        out[key] = item
    return dict(sorted(out.items()))


def _candidate_scores(
    candidates: Iterable[Candidate], need_by_id: Mapping[int, NeedSlot], offer_by_id: Mapping[int, OfferSlot]
) -> dict[tuple[int, int], float]:
    """Raw scores by (need, offer), sorted by pair, after checking every pair."""
    scores: dict[tuple[int, int], float] = {}
    for c in candidates:
        pair = (c.need_id, c.offer_id)
        if c.need_id not in need_by_id:
            raise InvalidInputError(f"candidate {pair} names need {c.need_id}, which is not given", field="needs")
        if c.offer_id not in offer_by_id:
            raise InvalidInputError(
                f"candidate {pair} names offer {c.offer_id}, which is not given", field="offers"
            )
        if pair in scores:
            raise InvalidInputError(f"candidate {pair} is given twice", field="candidates")
        if not math.isfinite(c.score):
            raise InvalidInputError(f"candidate {pair} has score {c.score!r}", field="candidates")
        scores[pair] = float(c.score)
    return dict(sorted(scores.items()))


def _adjusted_scores(
    scores: Mapping[tuple[int, int], float],
    need_by_id: Mapping[int, NeedSlot],
    offer_by_id: Mapping[int, OfferSlot],
    preferences: Preferences,
) -> dict[tuple[int, int], float]:
    """Scores plus the preference bonuses; countries are looked up only for a preference that is on."""
    if not (preferences.south_south or preferences.ldc_sids):
        return dict(scores)

    def lookup(code: str | None, test: Callable[[str], bool], what: str) -> bool:
        if code is None:
            return False
        try:
            return test(code)
        except vocab.UnknownTermError as exc:
            raise InvalidInputError(f"{what}: {exc}", field="country") from exc

    party_south = {n: lookup(s.party, vocab.in_global_south, f"need {n}") for n, s in need_by_id.items()}
    provider_south = {o: lookup(s.country, vocab.in_global_south, f"offer {o}") for o, s in offer_by_id.items()}
    priority = {
        n: lookup(s.party, lambda c: vocab.is_ldc(c) or vocab.is_sids(c), f"need {n}")
        for n, s in need_by_id.items()
    }
    out: dict[tuple[int, int], float] = {}
    for (n, o), score in scores.items():
        bonus = preferences.south_south if party_south[n] and provider_south[o] else 0.0
        bonus += preferences.ldc_sids if priority[n] else 0.0
        out[n, o] = score + bonus
    return out


def _capacities(offer_by_id: Mapping[int, OfferSlot], scores: Mapping[tuple[int, int], float]) -> dict[int, int]:
    """Effective capacity per offer: an unlimited offer can at most serve each of its candidates once."""
    degree = dict.fromkeys(offer_by_id, 0)
    for _, o in scores:
        degree[o] += 1
    return {o: degree[o] if s.capacity is None else s.capacity for o, s in offer_by_id.items()}


# ------------------------------------------------------------------------------------------ solving


def _solve(
    candidates_of: Mapping[int, Sequence[int]],
    capacity: Mapping[int, int],
    adjusted: Mapping[tuple[int, int], float],
    *,
    per_need: int,
    min_per_need: int,
) -> set[tuple[int, int]]:
    """The chosen pairs of a lexicographically optimal assignment (min-cost flow, see the module docstring)."""
    gain = {pair: round(value * _SCALE) for pair, value in adjusted.items() if capacity[pair[1]] > 0}
    supply = sum(min(per_need, sum(capacity[o] > 0 for o in offers)) for offers in candidates_of.values())
    if supply == 0:
        return set()
    big_m = sum(abs(g) for g in gain.values()) + 1

    graph = nx.DiGraph()
    graph.add_node("source", demand=-supply)
    graph.add_node("sink", demand=supply)
    graph.add_edge("source", "sink", capacity=supply, weight=0)
    for n, offers in candidates_of.items():
        usable = [o for o in offers if capacity[o] > 0]
        if not usable:
            continue
        # A DiGraph holds one edge per node pair, so the minimum slots reach the need through their own node.
        if min_per_need:
            graph.add_edge("source", ("min", n), capacity=min_per_need, weight=-big_m)
            graph.add_edge(("min", n), ("need", n), capacity=min_per_need, weight=0)
        if per_need > min_per_need:
            graph.add_edge("source", ("need", n), capacity=per_need - min_per_need, weight=0)
        for o in usable:
            graph.add_edge(("need", n), ("offer", o), capacity=1, weight=-gain[n, o])
    for o, cap in capacity.items():
        if cap > 0 and graph.has_node(("offer", o)):
            graph.add_edge(("offer", o), "sink", capacity=cap, weight=0)

    flow: dict[Any, dict[Any, int]]
    _, flow = nx.network_simplex(graph)
    return {(n, o) for n, o in gain if flow[("need", n)][("offer", o)] > 0}


# ------------------------------------------------------------------------------------------ explaining


def _explain(
    chosen: set[tuple[int, int]],
    candidates_of: Mapping[int, Sequence[int]],
    capacity: Mapping[int, int],
    adjusted: Mapping[tuple[int, int], float],
    *,
    min_per_need: int,
) -> tuple[list[Shortfall], list[Bottleneck]]:
    """Shortfalls per short need, and the offers whose capacity is the limit.

    The minimum slots of ``chosen`` form a maximum flow of the network that has only those slots (the first
    objective is optimal). In its residual graph the short needs reach, through offers they could use and the
    needs that hold them, only saturated offers: the source side of a minimum cut. Raising the capacity of any
    of them by one opens an augmenting path, so one more short need of its group can be served.
    """
    held: dict[int, set[int]] = {n: set() for n in candidates_of}
    holders: dict[int, list[int]] = {o: [] for o in capacity}
    for n, o in sorted(chosen):
        held[n].add(o)
        holders[o].append(n)
    # Which of a need's providers count as its minimum slots does not matter: any choice is a maximum flow,
    # and the minimum cut found from the short needs is the same in all of them.
    holds_min = {
        n: set(sorted(offers, key=lambda o: (-adjusted[n, o], o))[:min_per_need]) for n, offers in held.items()
    }
    min_load = dict.fromkeys(capacity, 0)
    min_holders: dict[int, list[int]] = {o: [] for o in capacity}
    for n, offers in holds_min.items():
        for o in offers:
            min_load[o] += 1
            min_holders[o].append(n)

    short = [n for n in candidates_of if len(held[n]) < min_per_need]
    competing = [n for n in short if any(capacity[o] > 0 for o in candidates_of[n] if o not in held[n])]
    cut, wanting = _min_cut(competing, candidates_of, held, holds_min, min_holders)
    # An offer with a free unit on the source side would be an augmenting path: a better assignment exists.
    assert all(min_load[o] >= capacity[o] for offers in cut.values() for o in offers), "assignment not optimal"

    shortfalls: list[Shortfall] = []
    for n in short:
        got = len(held[n])
        free = tuple(o for o in candidates_of[n] if o not in held[n])
        if not candidates_of[n]:
            shortfalls.append(Shortfall(n, got, min_per_need, "no_candidate"))
        elif not free:
            shortfalls.append(Shortfall(n, got, min_per_need, "too_few_candidates"))
        elif n in cut:
            shortfalls.append(Shortfall(n, got, min_per_need, "capacity", tuple(sorted(cut[n]))))
        else:  # every candidate it lacks has capacity 0, and nothing else can be reached from it
            shortfalls.append(Shortfall(n, got, min_per_need, "candidates_full", free))
            for o in free:
                wanting.setdefault(o, set()).add(n)

    limiting = sorted({o for s in shortfalls for o in s.offer_ids})
    bottlenecks = [
        Bottleneck(
            offer_id=o,
            capacity=capacity[o],
            need_ids=tuple(sorted(wanting.get(o, set()) | set(holders[o]))),
            given_to=tuple(holders[o]),
        )
        for o in limiting
    ]
    return shortfalls, bottlenecks


def _min_cut(
    sources: Sequence[int],
    candidates_of: Mapping[int, Sequence[int]],
    held: Mapping[int, set[int]],
    holds_min: Mapping[int, set[int]],
    min_holders: Mapping[int, Sequence[int]],
) -> tuple[dict[int, frozenset[int]], dict[int, set[int]]]:
    """The offers on each short need's side of the minimum cut, and the needs that want each offer.

    One breadth-first search from all the short needs at once, in the residual graph of the minimum slots:
    need → offer for a candidate it does not hold as a minimum slot, offer → need for each need that holds it
    as one (that need could move elsewhere and free the unit). The search is linear in the candidates; its
    connected components (networkx) group the needs that compete for the same capacities.
    """
    pieces = nx.Graph()
    wanting: dict[int, set[int]] = {}
    seen_needs = set(sources)
    seen_offers: set[int] = set()
    queue = deque(sources)
    while queue:
        n = queue.popleft()
        for o in candidates_of[n]:
            if o in holds_min[n]:
                continue
            if o not in held[n]:  # a need holding it beyond its minimum does not want it
                wanting.setdefault(o, set()).add(n)
            pieces.add_edge(("need", n), ("offer", o))
            if o in seen_offers:
                continue
            seen_offers.add(o)
            for x in min_holders[o]:
                pieces.add_edge(("offer", o), ("need", x))
                if x not in seen_needs:
                    seen_needs.add(x)
                    queue.append(x)

    offers_with: dict[tuple[str, int], frozenset[int]] = {}
    for component in nx.connected_components(pieces):
        offers = frozenset(number for kind, number in component if kind == "offer")
        offers_with.update(dict.fromkeys(component, offers))
    return {n: offers_with[("need", n)] for n in sources}, wanting


def _message(
    shortfalls: Sequence[Shortfall],
    bottlenecks: Sequence[Bottleneck],
    need_by_id: Mapping[int, NeedSlot],
    offer_by_id: Mapping[int, OfferSlot],
    *,
    min_per_need: int,
) -> str:
    """One actionable sentence: each short need or group of needs, and what would let it be served."""

    def need(n: int) -> str:
        title = need_by_id[n].title
        return f"need {n} '{title}'" if title else f"need {n}"

    def offer(b: Bottleneck) -> str:
        title = offer_by_id[b.offer_id].title
        name = f"offer {b.offer_id} '{title}'" if title else f"offer {b.offer_id}"
        if b.capacity == 0:
            return f"{name} (capacity 0: full)"
        return f"{name} (capacity {b.capacity}, given to {_ids('need', b.given_to)})"

    by_offer = {b.offer_id: b for b in bottlenecks}
    clauses: list[str] = []
    groups: dict[tuple[int, ...], list[Shortfall]] = {}
    for s in shortfalls:
        short = f"{need(s.need_id)} gets {s.got} of {s.wanted}"
        if s.reason == "no_candidate":
            clauses.append(f"{need(s.need_id)} has no candidate at all (rank it, or relax its filters)")
        elif s.reason == "too_few_candidates":
            clauses.append(
                f"{need(s.need_id)} has only {s.got} candidate{_s(s.got)} "
                f"(rank it more widely, or lower min_per_need)"
            )
        elif s.reason == "candidates_full":
            full = _listed([offer(by_offer[o]) for o in s.offer_ids], "offer")
            which = "its other candidates are" if s.got else "all its candidates are"
            clauses.append(f"{short}: {which} full: {full} (raise a capacity or add candidates)")
        else:
            groups.setdefault(s.offer_ids, []).append(s)
    for offer_ids, group in groups.items():
        competing = sorted({n for o in offer_ids for n in by_offer[o].need_ids})
        limits = _listed([offer(by_offer[o]) for o in offer_ids], "offer")
        if len(offer_ids) > 1:
            limits += f" (together capacity {sum(by_offer[o].capacity for o in offer_ids)})"
        shorts = _listed([f"{need(s.need_id)} gets {s.got} of {s.wanted}" for s in group], "need")
        action = "raise its capacity" if len(offer_ids) == 1 else "raise one of their capacities"
        clauses.append(f"{_ids('need', competing)} compete for {limits}: {shorts} ({action} or add candidates)")
    count = len(shortfalls)
    return f"{count} need{_s(count)} cannot get {min_per_need} provider{_s(min_per_need)}: " + "; ".join(clauses)


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def _ids(kind: str, ids: Sequence[int]) -> str:
    """``need 3``, ``needs 3 and 4``, ``needs 3, 4 and 5``."""
    return f"{kind}{_s(len(ids))} " + _listed([str(i) for i in ids], kind)


def _listed(items: Sequence[str], kind: str) -> str:
    if len(items) > _MAX_LISTED:
        rest = len(items) - _MAX_LISTED + 1
        items = [*items[: _MAX_LISTED - 1], f"{rest} more {kind}s"]
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]
