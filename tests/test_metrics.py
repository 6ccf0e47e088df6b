"""/metrics in Prometheus format, and /readyz reporting the database, Redis and a drain."""

from __future__ import annotations

import dataclasses
import os

import pytest
from prometheus_client.parser import text_string_to_metric_families

from server.app import create_app
from signalling.keys import BUS, LIVE
from tests import split
from tests.calls import remote_call
from tests.test_signalling import admitted_pair

NAMES = {"rapport_rooms", "rapport_participants", "rapport_connections",
         "rapport_relay_seconds", "rapport_admission_seconds", "rapport_recorder_streams",
         "rapport_db_pool_in_use", "rapport_errors", "rapport_outbox_backlog",
         "rapport_bus_published", "rapport_draining"}


async def _scrape(client, **kw) -> dict[str, float]:  # type: ignore[no-untyped-def]
    response = await client.get("/metrics", **kw)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/plain")
    samples: dict[str, float] = {}
    families = list(text_string_to_metric_families(await response.text()))
    for family in families:
        for sample in family.samples:
            samples[sample.name] = samples.get(sample.name, 0.0) + sample.value
    assert {f.name for f in families} >= NAMES
    return samples


async def test_metrics_count_a_call(client, db, settings, world, login):
    await login(world.users["alice"])
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"])
    doctor, person, person_id = await admitted_pair(client, call)
    await doctor.send(type="offer", to=person_id, sdp="v=0")
    await person.expect("offer")
    seen = await _scrape(client)
    assert seen["rapport_rooms"] == 1 and seen["rapport_connections"] == 2
    assert seen["rapport_participants"] == 2
    assert seen["rapport_admission_seconds_count"] == 1
    assert seen["rapport_relay_seconds_count"] >= 1
    assert seen["rapport_draining"] == 0
    await person.close()
    await doctor.close()


async def test_metrics_token(aiohttp_client, settings):
    client = await aiohttp_client(create_app(dataclasses.replace(settings,
                                                                 metrics_token="s3cret")))
    assert (await client.get("/metrics")).status == 401
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    await _scrape(client, headers={"Authorization": "Bearer s3cret"})


async def test_readyz_fails_when_redis_is_unreachable_or_draining(aiohttp_client, settings):
    if not await split.redis_up():
        if os.environ.get("CI"):
            pytest.fail("Redis is not reachable")
        pytest.skip("Redis is not reachable")
    name = split.prefix()
    app = create_app(dataclasses.replace(settings, room_bus=split.REDIS_URL,
                                         room_bus_prefix=name))
    client = await aiohttp_client(app)
    try:
        ready = await client.get("/readyz")
        assert ready.status == 200 and (await ready.json())["bus"] == "reachable"
        bus = app[BUS]
        answering = bus.ping

        async def unreachable() -> None:
            raise ConnectionError("Redis is away")

        bus.ping = unreachable  # type: ignore[method-assign]
        gone = await client.get("/readyz")
        assert gone.status == 503
        assert (await gone.json()) == {"status": "unavailable", "database": "reachable",
                                       "bus": "unreachable"}
        bus.ping = answering  # type: ignore[method-assign]
        app[LIVE].draining = True
        draining = await client.get("/readyz")
        assert draining.status == 503 and (await draining.json())["status"] == "draining"
        app[LIVE].draining = False
    finally:
        await split.forget(name)


def test_the_relay_histogram_counts_like_prometheus_clients_own():
    """The hot path's histogram (server/metrics.py `HotHistogram`) exposes the same samples
    as prometheus-client's `Histogram` given the same observations, bounds inclusive."""
    from prometheus_client import CollectorRegistry, Histogram, generate_latest

    from server.metrics import BUCKETS, HotHistogram

    ours_registry, theirs_registry = CollectorRegistry(), CollectorRegistry()
    ours = HotHistogram("h_seconds", "h", BUCKETS, ours_registry)
    theirs = Histogram("h_seconds", "h", buckets=BUCKETS, registry=theirs_registry)
    for value in (0.0, 0.001, 0.0011, 0.05, 0.3, 10.0, 11.0):
        ours.observe(value)
        theirs.observe(value)

    def samples(registry):
        return sorted(line for line in generate_latest(registry).decode().splitlines()
                      if line.startswith("h_seconds") and "_created" not in line)

    assert samples(ours_registry) == samples(theirs_registry)
