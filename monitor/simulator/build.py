"""Turning a parsed scenario into world entities, and checking its steps' references."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from monitor.simulator import generate
from monitor.simulator.entities import AdAccount
from monitor.simulator.scenario import AccountSpec, Scenario
from monitor.simulator.tables import Problems, join

if TYPE_CHECKING:
    from monitor.simulator.world import World


def populate(world: World, scenario: Scenario) -> None:
    """Add every account, campaign, ad group and ad ``scenario`` describes to ``world``."""
    world.scenario = scenario
    for spec in scenario.accounts:
        for kind, entity_id in _explicit_ids(spec):
            world.ids.claim(kind, entity_id)
    t0 = scenario.start_time
    ids = world.ids
    for index, spec in enumerate(scenario.accounts):
        acct = generate.account(spec.id or ids.new("accounts"), index, spec.fields, t0)
        world.add_account(acct, shared=spec.shared)
        for c_index, c_spec in enumerate(spec.campaigns):
            camp_id = c_spec.id or ids.new("campaigns")
            camp = generate.campaign(camp_id, acct, c_index, c_spec.fields, t0)
            world.add(camp)
            for g_index, g_spec in enumerate(c_spec.children):
                group_id = g_spec.id or ids.new("ad_groups")
                group = generate.ad_group(group_id, camp, g_index, g_spec.fields, t0)
                world.add(group)
                for a_index, a_spec in enumerate(g_spec.children):
                    world.new_ad(group, a_index, a_spec.fields, a_spec.id)
        if spec.generate is not None:
            _generate(world, acct, spec.generate, offset=len(spec.campaigns))


def _generate(world: World, acct: AdAccount, spec: generate.Generate, *, offset: int) -> None:
    t0 = world.start_time
    groups = []
    for c in range(spec.campaigns):
        camp = generate.campaign(world.ids.new("campaigns"), acct, offset + c, {}, t0)
        world.add(camp)
        for g in range(spec.ad_groups_per_campaign):
            group = generate.ad_group(world.ids.new("ad_groups"), camp, g, {}, t0)
            world.add(group)
            groups.append(group)
    for i, fields in enumerate(generate.ad_states(spec)):
        world.new_ad(groups[i % len(groups)], i, fields, None)


def _explicit_ids(spec: AccountSpec) -> Iterable[tuple[str, str]]:
    if spec.id:
        yield "accounts", spec.id
    for camp in spec.campaigns:
        if camp.id:
            yield "campaigns", camp.id
        for group in camp.children:
            if group.id:
                yield "ad_groups", group.id
            for ad in group.children:
                if ad.id:
                    yield "ads", ad.id
                pin = ad.fields.get("pin_id")
                if isinstance(pin, str) and pin.isdigit():
                    yield "pins", pin


def check_references(world: World, scenario: Scenario, p: Problems) -> None:
    """Report timeline steps and review stories naming ids that do not exist (or, for a
    step, are not created by a ``create`` step)."""
    created = {i for step in scenario.timeline if step.action == "create" for i in step.ids or ()}
    for n, step in enumerate(scenario.timeline):
        where = join("timeline", n)
        for kind, selector in step.targets.items():
            table = getattr(world, kind)
            missing = [
                i for i in selector.ids if i not in table and not (kind == "ads" and i in created)
            ]
            if missing:
                p.add(join(where, kind), f"no {kind} with id(s) {', '.join(missing)}")
        if step.account is not None and step.account not in world.accounts:
            p.add(join(where, "account"), f"no account with id {step.account}")
        if step.ad_group is not None and step.ad_group not in world.ad_groups:
            p.add(join(where, "ad_group"), f"no ad group with id {step.ad_group}")
    for n, story in enumerate(scenario.reviews):
        where = join("reviews", n)
        if story.account is not None and story.account not in world.accounts:
            p.add(join(where, "account"), f"no account with id {story.account}")
        if story.ad_group is not None and story.ad_group not in world.ad_groups:
            p.add(join(where, "ad_group"), f"no ad group with id {story.ad_group}")
        if story.ads is not None:
            missing = [i for i in story.ads.ids if i not in world.ads]
            if missing:
                p.add(join(where, "ads"), f"no ads with id(s) {', '.join(missing)}")
        taken = [i for i in story.ids or () if i in world.ads]
        if taken:
            p.add(join(where, "ids"), f"ad id(s) {', '.join(taken)} already exist")
