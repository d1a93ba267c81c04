"""The checkout rate the platform sustains on this machine, for when the
bench's `docs/bench/capacity.json` is missing: a short open-loop ramp through
the same platform and load generator as the scenarios (a quick stand-in for
`make bench`, coarser than it)."""

from __future__ import annotations

import asyncio
import time

from tests.reliability.checkout_load import Arrival
from tests.reliability.fault_scenario import FaultScenario
from tests.reliability.platform import Platform

__all__ = ["measure_capacity"]

# steps of ~1.4x: the first unsustained one overshoots little, so its backlog is short
RAMP_PER_S = (4.0, 6.0, 9.0, 13.0, 18.0, 25.0, 35.0, 50.0, 70.0, 100.0)
STEP_S = 5.0
GRACE_S = 8.0  # every arrival of a step must be decided this long after its last one
SLACK_S = 2.0  # a sustained step's decisions span at most its own length plus this


async def measure_capacity(platform: Platform) -> tuple[float, str]:
    """The highest rate of the ramp that was sustained (every arrival decided
    in time, at the offered pace: the bench's rule); if not even the first
    was, the orders it decided per second of the step and its grace. Returns
    it and a line telling how it was found."""
    steps: list[str] = []
    capacity = 0.0
    async with FaultScenario(platform, "capacity", stock=1_000_000) as scenario:
        load = scenario.load
        assert load is not None
        for rate in RAMP_PER_S:
            first = len(load.arrivals)
            await load.offer(rate=rate, seconds=STEP_S)
            offered = load.arrivals[first:]
            deadline = time.monotonic() + GRACE_S
            while time.monotonic() < deadline and not _all_decided(offered):
                await asyncio.sleep(0.2)
            span = _decision_span(offered)
            decided = sum(a.decided_at is not None for a in offered)
            steps.append(f"{rate:g}/s offered: {decided}/{len(offered)} decided in {span:.1f}s")
            # kept up: every order decided, no queue building (the decisions took
            # about as long as the arrivals; an overload stretches them)
            if not _all_decided(offered) or span > STEP_S + SLACK_S:
                # a rate seen in an overloaded step is no capacity (a few quick
                # decisions make a huge one): below the ramp, count the step's
                # decisions over all the time it was given
                capacity = capacity or decided / (STEP_S + GRACE_S)
                break
            capacity = rate
        # the ramp's last payments land before the scenarios start (not checked)
        drain = time.monotonic()
        deadline = drain + 60
        while time.monotonic() < deadline and load.unsettled():
            await asyncio.sleep(0.5)
        steps.append(f"backlog settled in {time.monotonic() - drain:.1f}s")
    return capacity, "measured by a ramp in this session: " + "; ".join(steps)


def _all_decided(arrivals: list[Arrival]) -> bool:
    return all(a.decided_at is not None for a in arrivals)


def _decision_span(arrivals: list[Arrival]) -> float:
    """Seconds from the step's first decision (confirmed or rejected) to its
    last: the latency of one order does not count, a growing queue does."""
    decided = [a.decided_at for a in arrivals if a.decided_at is not None]
    return max(decided) - min(decided) if decided else 0.0
