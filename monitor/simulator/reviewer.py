"""The simulated review team: carries out review stories on the world, on the simulator's clock.

Staging a story picks its ads (an edit story) or reserves their ids (a create story) at
once, so ``GET /_sim/reviews`` can name every ad and both of its moments before either
comes. Each moment is applied when the simulator next looks at the world (before any
/v5 request is answered, and on admin reads) once the clock has reached it, and it is
applied *as of* that moment: the ad's ``updated_time`` is the scripted second, and the
reported ``decided_at`` is the scripted time, whatever the gap to the first request
after it. No observer can tell this from a change made exactly on time, which is what a
latency measurement needs, and it works the same on the wall clock and on an injected
one (a test's :class:`~monitor.simulator.clock.ManualClock` moves and the next request
sees every moment it passed, in order).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any, Final

import structlog

from monitor.simulator import vocab
from monitor.simulator.actions import StepError, select
from monitor.simulator.entities import Ad
from monitor.simulator.reviews import Planned, ReviewStory, pick, plan
from monitor.simulator.world import UnknownEntityError, World

log = structlog.get_logger("monitor.simulator")

STATES: Final = ("scheduled", "pending", "decided", "skipped")
_ENTER: Final = 0  # before a decision due at the same moment
_DECIDE: Final = 1


@dataclass(slots=True)
class Review:
    """One ad's review: its two moments on the simulator's clock, its verdict, its state.

    Attributes:
        story: The story's number (0 for the first staged; scenario stories come first).
        state: ``scheduled`` (not in review yet), ``pending`` (entered, undecided),
            ``decided``, or ``skipped`` (its ad was gone, or its id taken; see ``error``).
    """

    story: int
    ad_id: str
    account: str
    kind: str
    entered_at: float
    decided_at: float
    decision: str
    reasons: tuple[str, ...]
    labels: tuple[str, ...]
    state: str = "scheduled"
    error: str | None = None
    n: int = 1  # position in its story, for ``{n}`` in names
    ad_group: str | None = None  # create: where the ad appears

    def to_json(self) -> dict[str, Any]:
        """What ``GET /_sim/reviews`` shows."""
        return {
            "story": self.story,
            "ad_id": self.ad_id,
            "account": self.account,
            "kind": self.kind,
            "entered_at": self.entered_at,
            "decided_at": self.decided_at,
            "state": self.state,
            "decision": self.decision,
            "reasons": list(self.reasons),
            "labels": list(self.labels),
            "error": self.error,
        }


@dataclass(slots=True)
class _Staged:
    story: ReviewStory
    origin: float
    from_scenario: bool
    reviews: list[Review] = field(default_factory=list)


class Reviewer:
    """The staged stories and their reviews, and a heap of the moments still to come."""

    def __init__(self) -> None:
        self.stories: list[_Staged] = []
        self.reviews: list[Review] = []
        self._heap: list[tuple[float, int, int]] = []  # (moment, phase, index in reviews)
        self._busy: set[str] = set()  # ads in a review not decided yet

    def stage(
        self, story: ReviewStory, world: World, *, origin: float, from_scenario: bool = False
    ) -> list[Review]:
        """Pick the ads of ``story`` and schedule their moments, ``origin`` + offsets.

        Raises:
            StepError: If the story cannot apply to the world as it is (nothing is staged).
        """
        number = len(self.stories)
        if story.kind == "edit":
            ad_ids = pick(story, self._candidates(story, world))
            group = None
        else:
            group = self._group(story, world)
            ad_ids = self._new_ids(story, world)
        if not ad_ids:
            raise StepError(f"{story.describe()}: no ads to review")
        try:
            plans = plan(story, ad_ids)
        except ValueError as exc:
            raise StepError(f"{story.describe()}: {exc}") from None
        staged = _Staged(story, origin, from_scenario)
        for n, planned in enumerate(plans, start=1):
            owner = world.ad_groups[group] if group else world.ad(planned.ad_id)
            account = owner.ad_account_id
            staged.reviews.append(self._review(number, planned, origin, story, account, n, group))
        self.stories.append(staged)
        for review in staged.reviews:
            self._push(review.entered_at, _ENTER, len(self.reviews))
            self.reviews.append(review)
            self._busy.add(review.ad_id)
        return staged.reviews

    @staticmethod
    def _review(
        number: int,
        planned: Planned,
        origin: float,
        story: ReviewStory,
        account: str,
        n: int,
        group: str | None,
    ) -> Review:
        return Review(
            story=number,
            ad_id=planned.ad_id,
            account=account,
            kind=story.kind,
            entered_at=origin + planned.enter_s,
            decided_at=origin + planned.decide_s,
            decision=planned.decision,
            reasons=planned.reasons,
            labels=tuple(vocab.label_for(r) for r in planned.reasons),
            n=n,
            ad_group=group,
        )

    def _candidates(self, story: ReviewStory, world: World) -> list[str]:
        if story.account is not None and story.account not in world.accounts:
            raise StepError(f"no account with id {story.account}")
        if story.ads is not None:
            ids = select(world, "ads", story.ads, story.account)
            busy = [i for i in ids if i in self._busy]
            if busy:
                raise StepError(f"ad(s) {', '.join(busy[:5])} already in a staged review")
        else:
            # What Pinterest would review after an edit: running ads not already in review.
            accounts = [story.account] if story.account else sorted(world.accounts, key=int)
            ids = [
                e.id
                for a in accounts
                for e in world.entities_of(a, "ads")
                if isinstance(e, Ad)
                and e.status == "ACTIVE"
                and e.review_status != "PENDING"
                and e.id not in self._busy
            ]
        if story.count is not None and story.count > len(ids):
            raise StepError(f"{story.describe()}: only {len(ids)} ads to draw {story.count} from")
        return ids

    @staticmethod
    def _group(story: ReviewStory, world: World) -> str:
        if story.ad_group is not None:
            if story.ad_group not in world.ad_groups:
                raise StepError(f"no ad group with id {story.ad_group}")
            return story.ad_group
        if story.account is not None and story.account not in world.accounts:
            raise StepError(f"no account with id {story.account}")
        accounts = [story.account] if story.account else sorted(world.accounts, key=int)
        groups = [str(i) for a in accounts for i in world.ids_of(a, "ad_groups")]
        if not groups:
            raise StepError("review create: no ad group to create the ads in (give ad_group)")
        return groups[0]

    def _new_ids(self, story: ReviewStory, world: World) -> list[str]:
        if story.ids is not None:
            taken = [i for i in story.ids if i in world.ads or i in self._busy]
            if taken:
                raise StepError(f"review create: ad id(s) {', '.join(taken)} already exist")
            for ad_id in story.ids:
                world.ids.claim("ads", ad_id)
            return sorted(story.ids, key=int)
        assert story.count is not None  # parse_review requires count or ids for create
        # Reserved now, so the plan can name them; created at their moment.
        return [world.ids.new("ads") for _ in range(story.count)]

    def _push(self, moment: float, phase: int, index: int) -> None:
        heapq.heappush(self._heap, (moment, phase, index))

    def run(self, world: World, now: float) -> int:
        """Apply every moment up to ``now``, in time order; returns how many were applied."""
        applied = 0
        while self._heap and self._heap[0][0] <= now:
            _, phase, index = heapq.heappop(self._heap)
            review = self.reviews[index]
            if phase == _ENTER and review.state == "scheduled":
                self._enter(review, world, now)
                if review.state == "pending":
                    self._push(review.decided_at, _DECIDE, index)
            elif phase == _DECIDE and review.state == "pending":
                self._decide(review, world, now)
            applied += 1
        return applied

    def _enter(self, review: Review, world: World, now: float) -> None:
        story = self.stories[review.story].story
        fields = dict(story.fields)
        try:
            if review.kind == "create":
                assert review.ad_group is not None
                if review.ad_id in world.ads:
                    raise ValueError(f"ad {review.ad_id} already exists")
                if story.name is not None:
                    fields["name"] = story.name.replace("{n}", str(review.n))
                stamp = max(int(review.entered_at), world.start_time)
                fields = {"created_time": stamp, "updated_time": stamp, **fields}
                world.create_ad(ad_group_id=review.ad_group, ad_id=review.ad_id, **fields)
            else:
                world.set_pending(review.ad_id, at=review.entered_at, **fields)
        except (UnknownEntityError, ValueError) as exc:
            self._skip(review, f"cannot enter review: {exc}")
            return
        review.state = "pending"
        log.info(
            "simulator.review_entered",
            ad_id=review.ad_id,
            kind=review.kind,
            story=review.story,
            entered_at=review.entered_at,
            late_s=round(now - review.entered_at, 3),
        )

    def _decide(self, review: Review, world: World, now: float) -> None:
        bump = self.stories[review.story].story.bump
        try:
            if review.decision == "reject":
                world.reject_ad(
                    review.ad_id,
                    reasons=review.reasons,
                    labels=review.labels,
                    bump=bump,
                    at=review.decided_at,
                )
            else:
                world.approve_ad(review.ad_id, bump=bump, at=review.decided_at)
        except UnknownEntityError:
            self._skip(review, "its ad was removed before the decision")
            return
        review.state = "decided"
        self._busy.discard(review.ad_id)
        log.info(
            "simulator.review_decided",
            ad_id=review.ad_id,
            decision=review.decision,
            reasons=list(review.reasons),
            story=review.story,
            decided_at=review.decided_at,
            late_s=round(now - review.decided_at, 3),
        )

    def _skip(self, review: Review, error: str) -> None:
        review.state, review.error = "skipped", error
        self._busy.discard(review.ad_id)
        log.warning("simulator.review_skipped", ad_id=review.ad_id, error=error)

    def rebase(self, origin: float) -> None:
        """Move the scenario's stories to start at ``origin`` (the simulator's start).

        Only moments still to come move: the scenario's offsets count from when the
        simulator starts serving, as ``after_s`` steps do.
        """
        for staged in self.stories:
            delta = origin - staged.origin
            if not staged.from_scenario or delta == 0:
                continue
            staged.origin = origin
            for review in staged.reviews:
                if review.state == "scheduled":
                    review.entered_at += delta
                if review.state in ("scheduled", "pending"):
                    review.decided_at += delta
        self._heap = []
        for index, review in enumerate(self.reviews):
            if review.state == "scheduled":
                self._push(review.entered_at, _ENTER, index)
            elif review.state == "pending":
                self._push(review.decided_at, _DECIDE, index)

    def clear(self) -> None:
        """Forget every story (a reset stages the scenario's again)."""
        self.stories.clear()
        self.reviews.clear()
        self._heap.clear()
        self._busy.clear()

    def counts(self) -> dict[str, int]:
        """How many reviews are in each state."""
        out = dict.fromkeys(STATES, 0)
        for review in self.reviews:
            out[review.state] += 1
        return out

    def listing(self, *, story: int | None = None, state: str | None = None) -> list[Review]:
        """The reviews, in staging order, of one story or in one state if asked."""
        return [
            r
            for r in self.reviews
            if (story is None or r.story == story) and (state is None or r.state == state)
        ]
