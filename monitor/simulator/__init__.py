"""A Pinterest API v5 simulator: the ads endpoints pinmon polls, faithful to the spec.

It serves accounts, campaigns, ad groups and ads from a scenario, changes them on a
timeline (rejections, approvals, pauses, new ads...), stages ad reviews on the clock
(ads created or edited, PENDING, then decided at scripted or seeded-random moments),
scripts failures (429, 500, resets, truncated bodies, looping bookmarks, stale
replicas...), and enforces OAuth and rate limits the way Pinterest does. ``pinmon demo``
runs against it, people rehearse alerts with it, and the test suite uses it instead of
mocks. See docs/simulator.md.

Example::

    from monitor.simulator import ManualClock, Simulator, World, builtin_scenario

    clock = ManualClock()
    world = World.from_scenario(builtin_scenario("demo"))
    async with Simulator(world=world, now=clock, token_lifetime_s=3600) as sim:
        ...  # point a client at sim.base_url with "Authorization: Bearer demo-token"
"""

from __future__ import annotations

from monitor.simulator.actions import StepError
from monitor.simulator.app import RequestRecord
from monitor.simulator.auth import TokenPair, Tokens
from monitor.simulator.clock import ManualClock
from monitor.simulator.entities import Ad, AdAccount, AdGroup, Campaign
from monitor.simulator.faults import Fault, FaultKind
from monitor.simulator.reviewer import Review
from monitor.simulator.reviews import ReviewStory
from monitor.simulator.scenario import (
    AuthSpec,
    RateLimitSpec,
    Scenario,
    builtin_scenario,
    builtin_scenarios,
    load_scenario,
)
from monitor.simulator.server import Simulator
from monitor.simulator.standalone import ready_line, run_standalone, serve_forever
from monitor.simulator.steps import Step
from monitor.simulator.world import UnknownEntityError, World

__all__ = [
    "Ad",
    "AdAccount",
    "AdGroup",
    "AuthSpec",
    "Campaign",
    "Fault",
    "FaultKind",
    "ManualClock",
    "RateLimitSpec",
    "RequestRecord",
    "Review",
    "ReviewStory",
    "Scenario",
    "Simulator",
    "Step",
    "StepError",
    "TokenPair",
    "Tokens",
    "UnknownEntityError",
    "World",
    "builtin_scenario",
    "builtin_scenarios",
    "load_scenario",
    "ready_line",
    "run_standalone",
    "serve_forever",
]
