"""Timeline steps: the changes a scenario makes to the world, and when it makes them.

A step is one table: ``action`` says what happens, ``at_cycle = N`` or ``after_s = T``
says when (neither: at once, which is what the admin endpoint does), and ``ads`` /
``ad_groups`` / ``campaigns`` select what it happens to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from monitor.simulator import vocab
from monitor.simulator.faults import Fault, parse_fault
from monitor.simulator.fields import check_fields
from monitor.simulator.tables import (
    Problems,
    check_keys,
    get_bool,
    get_id,
    get_number,
    get_str,
    get_str_list,
    get_table,
    join,
)

#: Actions that only apply to ads.
AD_ACTIONS: Final = ("reject", "approve", "pending", "delete_pin")
#: Actions that apply to ads, ad groups and campaigns alike.
ENTITY_ACTIONS: Final = ("pause", "activate", "archive", "rename", "update", "remove")
#: Actions with no entity selection.
OTHER_ACTIONS: Final = (
    "create",
    "add_fault",
    "clear_faults",
    "revoke_access",
    "restore_access",
    "expire_tokens",
)
ACTIONS: Final = AD_ACTIONS + ENTITY_ACTIONS + OTHER_ACTIONS
TARGET_KINDS: Final = ("ads", "ad_groups", "campaigns")
STEP_KEYS: Final = (
    "action",
    "at_cycle",
    "after_s",
    "account",
    *TARGET_KINDS,
    "where",
    "reasons",
    "labels",
    "name",
    "count",
    "ad_group",
    "ids",
    "fields",
    "fault",
    "bump_updated_time",
    "note",
)


@dataclass(frozen=True, slots=True)
class Selector:
    """Which entities of one kind a step touches.

    Written as an id (``"687195134316"``), a list of ids, ``"all"``, ``"first:N"`` or
    ``"last:N"`` (by id, i.e. oldest or newest first), within ``account`` if the step names one.
    """

    ids: tuple[str, ...] = ()
    mode: str = "ids"  # "ids", "all", "first" or "last"
    count: int = 0


def parse_selector(value: Any, where: str, p: Problems) -> Selector | None:
    """Read a selector (see :class:`Selector`)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str):
        if value.isdigit():
            return Selector(ids=(value,))
        if value == "all":
            return Selector(mode="all")
        mode, _, n = value.partition(":")
        if mode in ("first", "last") and n.isdigit() and int(n) > 0:
            return Selector(mode=mode, count=int(n))
    elif isinstance(value, list) and value:
        ids = [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        if all(isinstance(v, str) and v.isdigit() for v in ids):
            return Selector(ids=tuple(ids))
    p.add(where, f'expected an id, a list of ids, "all", "first:N" or "last:N"; got {value!r}')
    return None


@dataclass(frozen=True, slots=True)
class Step:
    """One change to the world. See docs/simulator.md for every key."""

    action: str
    at_cycle: int | None = None
    after_s: float | None = None
    account: str | None = None
    targets: Mapping[str, Selector] = field(default_factory=dict)
    where: Mapping[str, Any] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()
    labels: tuple[str, ...] | None = None
    name: str | None = None
    count: int = 1
    ad_group: str | None = None
    ids: tuple[str, ...] | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    fault: Fault | None = None
    bump: bool = True
    note: str | None = None

    @property
    def immediate(self) -> bool:
        """Whether it has no trigger (applies as soon as it is added)."""
        return self.at_cycle is None and self.after_s is None

    def describe(self) -> str:
        """A short human summary for logs and the admin state."""
        parts = [self.action]
        parts += [f"{k}={_show(s)}" for k, s in self.targets.items()]
        if self.account:
            parts.append(f"account={self.account}")
        if self.note:
            parts.append(f"({self.note})")
        return " ".join(parts)


def _show(s: Selector) -> str:
    return (
        ",".join(s.ids)
        if s.mode == "ids"
        else (s.mode if s.mode == "all" else f"{s.mode}:{s.count}")
    )


def parse_step(table: Mapping[str, Any], where: str, p: Problems) -> Step | None:
    """Read one step table (``[[timeline]]`` in a scenario, or admin JSON)."""
    before = len(p.lines)
    check_keys(table, STEP_KEYS, where, p)
    action = get_str(table, "action", where, p)
    if action is None:
        p.add(join(where, "action"), "required")
        return None
    if action not in ACTIONS:
        p.add(join(where, "action"), f"{action!r} is not one of: {', '.join(ACTIONS)}")
        return None
    at_cycle = get_number(table, "at_cycle", where, p, integer=True)
    after_s = get_number(table, "after_s", where, p)
    if at_cycle is not None and after_s is not None:
        p.add(where, "give at_cycle or after_s, not both")
    targets: dict[str, Selector] = {}
    for kind in TARGET_KINDS:
        if kind in table:
            sel = parse_selector(table[kind], join(where, kind), p)
            if sel is not None:
                targets[kind] = sel
    if action in AD_ACTIONS and set(targets) - {"ads"}:
        p.add(where, f"{action!r} applies to ads only")
    if action in AD_ACTIONS + ENTITY_ACTIONS and not targets:
        p.add(where, f"{action!r} needs ads, ad_groups or campaigns")
    if action in OTHER_ACTIONS and targets:
        p.add(where, f"{action!r} takes no ads, ad_groups or campaigns")
    reasons = get_str_list(table, "reasons", where, p, choices=vocab.REJECTED_REASONS) or []
    if action == "reject" and not reasons and "reasons" not in table:
        p.add(join(where, "reasons"), "required for reject (spec enum values)")
    labels = get_str_list(table, "labels", where, p)
    name = get_str(table, "name", where, p)
    if action == "rename" and name is None:
        p.add(join(where, "name"), "required for rename")
    count = get_number(table, "count", where, p, integer=True)
    ids = get_str_list(table, "ids", where, p)
    if ids is not None and any(not i.isdigit() for i in ids):
        p.add(join(where, "ids"), "ids must be digit strings")
    if ids is not None and count is not None and len(ids) != count:
        p.add(join(where, "ids"), f"{len(ids)} ids for count = {count}")
    fields = _fields(action, table, targets, where, p)
    fault = None
    if action == "add_fault":
        ftable = get_table(table, "fault", where, p)
        if ftable is None:
            p.add(join(where, "fault"), "required for add_fault")
        else:
            fault = parse_fault(ftable, join(where, "fault"), p)
    account = get_id(table, "account", where, p)
    if action in ("revoke_access", "restore_access") and account is None:
        p.add(join(where, "account"), f"required for {action}")
    where_table = get_table(table, "where", where, p) or {}
    bump = get_bool(table, "bump_updated_time", where, p)
    if len(p.lines) > before:
        return None
    return Step(
        action=action,
        at_cycle=int(at_cycle) if at_cycle is not None else None,
        after_s=float(after_s) if after_s is not None else None,
        account=account,
        targets=targets,
        where=dict(where_table),
        reasons=tuple(reasons),
        labels=tuple(labels) if labels is not None else None,
        name=name,
        count=int(count) if count is not None else (len(ids) if ids else 1),
        ad_group=get_id(table, "ad_group", where, p),
        ids=tuple(ids) if ids is not None else None,
        fields=fields,
        fault=fault,
        bump=True if bump is None else bump,
        note=get_str(table, "note", where, p),
    )


def _fields(
    action: str, table: Mapping[str, Any], targets: Mapping[str, Selector], where: str, p: Problems
) -> dict[str, Any]:
    raw = get_table(table, "fields", where, p)
    if raw is None:
        if action == "update":
            p.add(join(where, "fields"), "required for update")
        return {}
    if action not in ("update", "create"):
        p.add(join(where, "fields"), f"not used by {action!r}")
        return {}
    out: dict[str, Any] = {}
    for kind in targets if action == "update" else ("ads",):
        out = check_fields(kind, raw, join(where, "fields"), p)
    return out


class Timeline:
    """The scheduled steps and which have fired."""

    def __init__(self, steps: list[Step] | tuple[Step, ...] = ()) -> None:
        self.steps: list[Step] = list(steps)
        self.fired: list[bool] = [False] * len(self.steps)

    def schedule(self, step: Step) -> None:
        """Add a step that fires later."""
        self.steps.append(step)
        self.fired.append(False)

    def due(self, cycle: int, elapsed_s: float) -> list[Step]:
        """The steps whose trigger has come, in order; each is returned once."""
        out = []
        for i, step in enumerate(self.steps):
            if self.fired[i]:
                continue
            if (
                step.immediate
                or (step.at_cycle is not None and cycle >= step.at_cycle)
                or (step.after_s is not None and elapsed_s >= step.after_s)
            ):
                self.fired[i] = True
                out.append(step)
        return out

    @property
    def pending(self) -> list[Step]:
        """The steps that have not fired yet."""
        return [s for s, f in zip(self.steps, self.fired, strict=True) if not f]
