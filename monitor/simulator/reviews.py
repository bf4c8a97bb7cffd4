"""Review stories: ads that enter review (created or edited), sit PENDING, and are decided.

A story is one ``[[reviews]]`` table in a scenario, or a ``POST /_sim/reviews`` body:
which ads, when each enters review, how long it stays PENDING, and how it is decided.
:func:`pick` and :func:`plan` turn a story into concrete ads, moments and decisions;
both are pure functions of the story and its ``seed`` (one random stream per purpose),
so the same story always yields the same plan, and changing one key (say the
rejected share) leaves the other draws alone. :mod:`.reviewer` carries plans out on
the simulator's clock.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from monitor.simulator import vocab
from monitor.simulator.fields import check_fields
from monitor.simulator.steps import Selector, parse_selector
from monitor.simulator.tables import (
    Problems,
    check_keys,
    get_bool,
    get_choice,
    get_id,
    get_number,
    get_str,
    get_str_list,
    get_table,
    join,
)

KINDS: Final = ("edit", "create")
DECISIONS: Final = ("approve", "reject")
SPREADS: Final = ("random", "even")
REVIEW_KEYS: Final = (
    "kind",
    "account",
    "ads",
    "count",
    "ad_group",
    "ids",
    "name",
    "fields",
    "enter_s",
    "decide_s",
    "decision",
    "rejected_share",
    "reasons",
    "reasons_per_ad",
    "seed",
    "bump_updated_time",
    "note",
)
#: Fields the review itself sets: a story's ``fields`` may not fight it over them.
REVIEW_FIELDS: Final = frozenset(
    {"review_status", "summary_status", "rejected_reasons", "rejection_labels"}
)


@dataclass(frozen=True, slots=True)
class Timing:
    """Seconds after an origin: one value for all, one per ad, or a window.

    A window draws uniformly at random (``spread = "random"``) or spaces the ads evenly
    from ``min_s`` to ``max_s`` in id order (``"even"``).
    """

    fixed: float | None = None
    each: tuple[float, ...] | None = None
    min_s: float = 0.0
    max_s: float = 0.0
    spread: str = "random"

    def draw(self, n: int, rng: random.Random) -> list[float]:
        """``n`` moments (``each`` must then hold ``n``)."""
        if self.each is not None:
            return list(self.each)
        if self.fixed is not None:
            return [self.fixed] * n
        if self.spread == "even":
            step = (self.max_s - self.min_s) / (n - 1) if n > 1 else 0.0
            return [round(self.min_s + i * step, 3) for i in range(n)]
        # Milliseconds: plenty for a poll interval, and exact in JSON.
        return [round(rng.uniform(self.min_s, self.max_s), 3) for _ in range(n)]


@dataclass(frozen=True, slots=True)
class ReviewStory:
    """One review story as written. See docs/simulator.md for every key."""

    kind: str
    decide: Timing
    enter: Timing = field(default_factory=lambda: Timing(fixed=0.0))
    account: str | None = None
    ads: Selector | None = None
    count: int | None = None
    ad_group: str | None = None
    ids: tuple[str, ...] | None = None
    name: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    decisions: tuple[str, ...] | None = None
    rejected_share: float = 0.5
    reasons: tuple[str, ...] = vocab.REJECTED_REASONS
    reasons_per_ad: int = 1
    seed: int = 0
    bump: bool = True
    note: str | None = None

    def describe(self) -> str:
        """A short human summary for logs."""
        parts = [f"review {self.kind}"]
        if self.count is not None:
            parts.append(f"count={self.count}")
        if self.account:
            parts.append(f"account={self.account}")
        if self.note:
            parts.append(f"({self.note})")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Planned:
    """One ad's part in a story: seconds after the story's origin, and the verdict."""

    ad_id: str
    enter_s: float
    decide_s: float
    decision: str
    reasons: tuple[str, ...]


def _rng(story: ReviewStory, purpose: str) -> random.Random:
    # A str seed is hashed with SHA-512: the same on every run and platform.
    return random.Random(f"{story.seed}:{purpose}")


def pick(story: ReviewStory, candidates: Sequence[str]) -> list[str]:
    """The ads an edit story sends to review: ``count`` drawn from ``candidates`` by seed
    (all of them without ``count``), in id order."""
    chosen = list(candidates)
    if story.count is not None and story.count < len(chosen):
        chosen = _rng(story, "ads").sample(chosen, story.count)
    return sorted(chosen, key=int)


def plan(story: ReviewStory, ad_ids: Sequence[str]) -> list[Planned]:
    """When each of ``ad_ids`` enters review and is decided, and how.

    Raises:
        ValueError: If a per-ad list (``enter_s``, ``decide_s``, ``decision``) does not
            have one value per ad.
    """
    n = len(ad_ids)
    for key, values in (
        ("enter_s", story.enter.each),
        ("decide_s", story.decide.each),
        ("decision", story.decisions if story.decisions and len(story.decisions) > 1 else None),
    ):
        if values is not None and len(values) != n:
            raise ValueError(f"{key} has {len(values)} values for {n} ads")
    enters = story.enter.draw(n, _rng(story, "enter"))
    delays = story.decide.draw(n, _rng(story, "decide"))
    if story.decisions is not None:
        verdicts = list(story.decisions) if len(story.decisions) > 1 else [story.decisions[0]] * n
    else:
        # An exact share, not a coin per ad: 200 ads at 0.25 reject exactly 50.
        rejected = set(_rng(story, "verdict").sample(range(n), int(story.rejected_share * n + 0.5)))
        verdicts = ["reject" if i in rejected else "approve" for i in range(n)]
    reasons_rng = _rng(story, "reasons")
    out = []
    for ad_id, enter, delay, verdict in zip(ad_ids, enters, delays, verdicts, strict=True):
        reasons: tuple[str, ...] = ()
        if verdict == "reject":
            drawn = set(reasons_rng.sample(story.reasons, story.reasons_per_ad))
            reasons = tuple(r for r in story.reasons if r in drawn)  # the pool's order
        out.append(Planned(ad_id, enter, round(enter + delay, 3), verdict, reasons))
    return out


def parse_review(table: Mapping[str, Any], where: str, p: Problems) -> ReviewStory | None:
    """Read one review story (a ``[[reviews]]`` table, or admin JSON)."""
    before = len(p.lines)
    check_keys(table, REVIEW_KEYS, where, p)
    kind = get_choice(table, "kind", KINDS, where, p)
    if kind is None and "kind" not in table:
        p.add(join(where, "kind"), f"required: one of {', '.join(KINDS)}")
    count, ads, ids, n = _which(table, kind, where, p)
    enter = _timing(table, "enter_s", where, p, n) if "enter_s" in table else None
    decide = _timing(table, "decide_s", where, p, n)
    if decide is None and "decide_s" not in table:
        p.add(join(where, "decide_s"), "required: seconds from entering review to the decision")
    decisions, share, pool, per_ad = _verdict(table, where, p, n)
    fields = _fields(table, where, p)
    seed = get_number(table, "seed", where, p, integer=True)
    bump = get_bool(table, "bump_updated_time", where, p)
    account = get_id(table, "account", where, p)
    ad_group = get_id(table, "ad_group", where, p)
    name = get_str(table, "name", where, p)
    note = get_str(table, "note", where, p)
    if len(p.lines) > before or kind is None or decide is None:
        return None
    return ReviewStory(
        kind=kind,
        decide=decide,
        enter=enter or Timing(fixed=0.0),
        account=account,
        ads=ads,
        count=count if count is not None else (len(ids) if ids else None),
        ad_group=ad_group,
        ids=tuple(ids) if ids is not None else None,
        name=name,
        fields=fields,
        decisions=decisions,
        rejected_share=share,
        reasons=pool,
        reasons_per_ad=per_ad,
        seed=int(seed) if seed is not None else 0,
        bump=True if bump is None else bump,
        note=note,
    )


def _which(
    table: Mapping[str, Any], kind: str | None, where: str, p: Problems
) -> tuple[int | None, Selector | None, list[str] | None, int | None]:
    """``count``, ``ads`` and ``ids`` as the kind allows them, and how many ads that makes
    when it is known before staging (None: only the world can tell)."""
    count = get_number(table, "count", where, p, integer=True)
    if count is not None and count < 1:
        p.add(join(where, "count"), "must be at least 1")
    ads = parse_selector(table["ads"], join(where, "ads"), p) if "ads" in table else None
    ids = get_str_list(table, "ids", where, p)
    if ids is not None and (not ids or any(not i.isdigit() or len(i) > 18 for i in ids)):
        p.add(join(where, "ids"), "expected a non-empty list of digit string ids")
    if kind == "edit":
        for key in ("ad_group", "ids", "name"):
            if key in table:
                p.add(join(where, key), "only for kind = create")
    elif kind == "create":
        if "ads" in table:
            p.add(join(where, "ads"), "only for kind = edit (created ads are new)")
        if count is None and ids is None:
            p.add(where, "kind = create needs count or ids")
        if ids is not None and count is not None and len(ids) != count:
            p.add(join(where, "ids"), f"{len(ids)} ids for count = {count}")
    n = int(count) if count is not None else None
    if n is None and kind == "create" and ids:
        n = len(ids)
    elif n is None and ads is not None and ads.mode == "ids":
        n = len(ads.ids)
    return (int(count) if count is not None else None), ads, ids, n


def _verdict(
    table: Mapping[str, Any], where: str, p: Problems, n: int | None
) -> tuple[tuple[str, ...] | None, float, tuple[str, ...], int]:
    """``decision``, ``rejected_share``, the reasons pool and ``reasons_per_ad``."""
    decisions = _decisions(table, where, p, n)
    share = get_number(table, "rejected_share", where, p)
    if share is not None and share > 1:
        p.add(join(where, "rejected_share"), "must be from 0 to 1")
    if share is not None and "decision" in table:
        p.add(where, "give decision or rejected_share, not both")
    reasons = get_str_list(table, "reasons", where, p, choices=vocab.REJECTED_REASONS)
    if reasons is not None and not reasons:
        p.add(join(where, "reasons"), "must not be empty")
    pool = tuple(dict.fromkeys(reasons)) if reasons else vocab.REJECTED_REASONS
    per_ad = get_number(table, "reasons_per_ad", where, p, integer=True)
    if per_ad is not None and not 1 <= per_ad <= len(pool):
        p.add(join(where, "reasons_per_ad"), f"must be from 1 to {len(pool)} (the reasons given)")
    return (
        decisions,
        float(share) if share is not None else 0.5,
        pool,
        int(per_ad) if per_ad is not None else 1,
    )


def _timing(
    table: Mapping[str, Any], key: str, where: str, p: Problems, n: int | None
) -> Timing | None:
    value, here = table.get(key), join(where, key)
    if isinstance(value, bool):
        pass
    elif isinstance(value, int | float) and value >= 0:
        return Timing(fixed=float(value))
    elif isinstance(value, list):
        ok = all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in value)
        if ok and value:
            if n is not None and len(value) != n:
                p.add(here, f"{len(value)} values for {n} ads")
            return Timing(each=tuple(float(v) for v in value))
    elif isinstance(value, Mapping):
        check_keys(value, ("min_s", "max_s", "spread"), here, p)
        low = get_number(value, "min_s", here, p)
        high = get_number(value, "max_s", here, p)
        spread = get_choice(value, "spread", SPREADS, here, p) or "random"
        if low is None or high is None:
            p.add(here, "a window needs min_s and max_s")
            return None
        if high < low:
            p.add(here, "max_s is below min_s")
            return None
        return Timing(min_s=float(low), max_s=float(high), spread=spread)
    p.add(
        here,
        "expected seconds (a non-negative number), a list of them (one per ad), "
        f"or a window {{min_s, max_s, spread}}; got {value!r}",
    )
    return None


def _decisions(
    table: Mapping[str, Any], where: str, p: Problems, n: int | None
) -> tuple[str, ...] | None:
    value, here = table.get("decision"), join(where, "decision")
    if value is None:
        return None
    values = value if isinstance(value, list) else [value]
    if not values or any(v not in DECISIONS for v in values):
        p.add(here, f'expected "approve", "reject" or a list of them (one per ad); got {value!r}')
        return None
    if isinstance(value, list) and len(values) > 1 and n is not None and len(values) != n:
        p.add(here, f"{len(values)} values for {n} ads")
    return tuple(values)


def _fields(table: Mapping[str, Any], where: str, p: Problems) -> dict[str, Any]:
    raw = get_table(table, "fields", where, p)
    if raw is None:
        return {}
    here = join(where, "fields")
    owned = [k for k in raw if k in REVIEW_FIELDS]
    for key in owned:
        p.add(join(here, key), "set by the review itself")
    return check_fields("ads", {k: v for k, v in raw.items() if k not in owned}, here, p)
