"""Carrying out timeline steps on the world, the armed faults and the tokens."""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from monitor.simulator.auth import Tokens
from monitor.simulator.faults import Faults
from monitor.simulator.steps import Selector, Step
from monitor.simulator.world import UnknownEntityError, World

log = structlog.get_logger("monitor.simulator")


class StepError(ValueError):
    """A step cannot apply to the world as it is (an unknown id, no ad group to create in)."""


@dataclass(slots=True)
class Access:
    """Ad accounts the token's user has lost access to (403 until restored)."""

    revoked: set[str] = field(default_factory=set)


def select(world: World, kind: str, selector: Selector, account: str | None) -> list[str]:
    """The ids a selector picks, in id order.

    Raises:
        StepError: If an explicit id is not a current entity of that kind.
    """
    table = getattr(world, kind)
    if selector.mode == "ids":
        missing = [i for i in selector.ids if i not in table]
        if missing:
            raise StepError(f"no {kind} with id(s) {', '.join(missing)}")
        return list(selector.ids)
    accounts = [account] if account else sorted(world.accounts, key=int)
    ids = [str(i) for a in accounts for i in world.ids_of(a, kind)]
    if selector.mode == "first":
        return ids[: selector.count]
    if selector.mode == "last":
        return ids[-selector.count :]
    return ids


def _targets(world: World, step: Step) -> list[tuple[str, str]]:
    out = []
    for kind, selector in step.targets.items():
        ids = select(world, kind, selector, step.account)
        if step.where:
            table = getattr(world, kind)
            ids = [
                i
                for i in ids
                if all(getattr(table[i], k, None) == v for k, v in step.where.items())
            ]
        out += [(kind, i) for i in ids]
    return out


def apply_step(
    step: Step, *, world: World, faults: Faults, tokens: Tokens, access: Access
) -> list[str]:
    """Carry out ``step``; return the ids of the entities it changed or created.

    Raises:
        StepError: If it cannot apply (nothing has changed then).
    """
    if step.action == "add_fault":
        assert step.fault is not None
        faults.add(step.fault)
        return []
    if step.action == "clear_faults":
        faults.clear()
        return []
    if step.action == "expire_tokens":
        tokens.expire_access_tokens()
        return []
    if step.action in ("revoke_access", "restore_access"):
        assert step.account is not None
        if step.action == "revoke_access":
            access.revoked.add(step.account)
        else:
            access.revoked.discard(step.account)
        return []
    if step.action == "create":
        return _create(step, world)
    targets = _targets(world, step)
    try:
        for n, (_, entity_id) in enumerate(targets, start=1):
            _one(step, world, entity_id, n)
    except UnknownEntityError as exc:  # removed by an earlier target of the same step
        raise StepError(f"no entity with id {exc.args[0]}") from None
    return [i for _, i in targets]


def _one(step: Step, world: World, entity_id: str, n: int) -> None:
    bump = step.bump
    match step.action:
        case "reject":
            world.reject_ad(entity_id, reasons=step.reasons, labels=step.labels, bump=bump)
        case "approve":
            world.approve_ad(entity_id, bump=bump)
        case "pending":
            world.set_pending(entity_id, bump=bump)
        case "delete_pin":
            world.delete_pin(entity_id, bump=bump)
        case "pause":
            world.pause(entity_id, bump=bump)
        case "activate":
            world.activate(entity_id, bump=bump)
        case "archive":
            world.archive(entity_id, bump=bump)
        case "rename":
            assert step.name is not None
            old = world.find(entity_id).name or ""
            world.rename(entity_id, _fill(step.name, name=old, n=n), bump=bump)
        case "update":
            world.update(entity_id, bump=bump, **step.fields)
        case "remove":
            world.remove(entity_id)
        case _:  # pragma: no cover - parse_step admits only the actions above
            raise StepError(f"unknown action {step.action!r}")


def _create(step: Step, world: World) -> list[str]:
    group_id = step.ad_group
    if group_id is None:
        accounts = [step.account] if step.account else sorted(world.accounts, key=int)
        groups = [i for a in accounts for i in world.ids_of(a, "ad_groups")]
        if not groups:
            raise StepError("create: no ad group to create the ad in (give ad_group)")
        group_id = str(groups[0])
    if group_id not in world.ad_groups:
        raise StepError(f"create: no ad group with id {group_id}")
    if step.ids:
        taken = [i for i in step.ids if i in world.ads]
        if taken:
            raise StepError(f"create: ad id(s) {', '.join(taken)} already exist")
    created = []
    for n in range(1, step.count + 1):
        fields = dict(step.fields)
        if step.name is not None:
            fields["name"] = _fill(step.name, name="", n=n)
        ad_id = step.ids[n - 1] if step.ids else None
        created.append(world.create_ad(ad_group_id=group_id, ad_id=ad_id, **fields).id)
    return created


def _fill(template: str, *, name: str, n: int) -> str:
    """``{name}`` and ``{n}`` filled in; any other brace is literal (names are free text)."""
    return template.replace("{name}", name).replace("{n}", str(n))
