"""The soak's short version (bench/soak.py): five three-way calls, join orders and timings
from a seeded generator, some on a loaded machine, each checked on all six directed legs."""

from __future__ import annotations

import random
from typing import Any

import pytest

from bench.soak import ORDERS, one_call
from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser

SEED = 2026


@pytest.mark.timeout(1500)
async def test_five_three_way_calls_connect_on_every_leg(live_server: LiveServer,
                                                         browser: Any) -> None:
    rng = random.Random(SEED)
    seeds = [rng.randrange(1, 2**31) for _ in range(5)]
    failures = []
    orders = set()
    for index, seed in enumerate(seeds):
        outcome = await one_call(browser, live_server.app, live_server.url, seed,
                                 loaded=index % 2 == 1)
        orders.add(outcome.order)
        if not outcome.ok:
            failures.append(f"seed {seed} ({outcome.order}, {outcome.extra}): "
                            f"{outcome.problem}")
    assert not failures, "replay with python -m bench.soak --replay <seed> --no-write: " + \
        " | ".join(failures)
    assert orders <= set(ORDERS)
