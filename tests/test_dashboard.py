"""The supervisor's dashboard figures (JSON), from seeded contacts; who may see them."""

from __future__ import annotations

from tests.dashboard_seed import seed


async def test_dashboard_figures(client, db, world, login):
    await seed(db, world)
    boss = await login(world.users["sue"])
    body = await (await boss.get("/api/v1/dashboard?days=90")).json()
    figures = {p["name"]: p for p in body["practitioners"]}
    assert {k: figures["Alice"][k] for k in (
        "face_to_face", "remote", "remote_percent", "failed_to_attend", "technical_failure",
        "rtt_ms", "loss_percent")} == {
        "face_to_face": 2, "remote": 2, "remote_percent": 50, "failed_to_attend": 1,
        "technical_failure": 1, "rtt_ms": 100, "loss_percent": 1.0}
    assert (figures["Bob"]["face_to_face"], figures["Bob"]["remote"]) == (1, 1)
    assert (figures["Dana"]["face_to_face"], figures["Dana"]["remote_percent"]) == (1, 0)
    assert body["team"]["total"] == 9
    policy = {c["name"]: (c["remote_now"], c["rules"]) for c in body["clients"]}
    assert policy["Client CRNA2"][0] == "blocked"
    assert "in_person_first" in policy["Client CRNA2"][1]
    assert policy["Client CRNB1"] == ("needs_approval", ["cadence.last_face_to_face",
                                                         "cadence.remote_share"])
    assert policy["Client CRNA1"][0] == policy["Client CRND1"][0] == "allowed"
    # Carol's client is in another team.
    assert "Client CRNC1" not in policy


async def test_dashboard_period_is_checked(client, world, login):
    boss = await login(world.users["sue"])
    response = await boss.get("/api/v1/dashboard?days=7")
    assert response.status == 422
    assert (await response.json())["errors"][0]["field"] == "days"
    everything = await (await boss.get("/api/v1/dashboard?days=365")).json()
    assert everything["days"] == 365
