"""The app starts, serves health checks, and a person can sign in."""

from __future__ import annotations


async def test_healthz(client):
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_readyz_reports_database(client):
    response = await client.get("/readyz")
    assert response.status == 200
    assert (await response.json())["database"] == "reachable"


async def test_practitioner_sees_own_caseload(world, login):
    alice = await login(world.users["alice"])
    response = await alice.get("/caseload")
    assert response.status == 200
    body = await response.text()
    assert "CRNA1" in body and "CRNA2" in body
    assert "CRNB1" not in body
