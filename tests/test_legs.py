"""Leg health over signalling (issue #13): each page reports its peer connections; the
practitioner is told; failures and recoveries are stored; bad reports get typed errors."""

from __future__ import annotations

from sqlalchemy import select

from server.store.models import ParticipantEvent
from tests.calls import client_peer, practitioner_peer, remote_call

INTERPRETER_CHECKS = {"interpreter.private": True, "interpreter.confidential": True}


async def three_in_a_call(client, db, settings, world, login):
    await login(world.users["alice"])
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"],
                             interpreter=True)
    doctor = await practitioner_peer(client, call.appointment.id)
    assert call.interpreter_token is not None
    interp = await client_peer(client, call.interpreter_token, checklist=INTERPRETER_CHECKS,
                               name="Ola Nowak")
    person = await client_peer(client, call.client_token)
    ids = {m["you"]["role"]: m["you"]["id"] for m in (person.seen[0], interp.seen[0])}
    ids["practitioner"] = doctor.seen[0]["you"]["id"]
    for role in ("interpreter", "client"):
        await doctor.send(type="admit", participant=ids[role])
        await (interp if role == "interpreter" else person).expect("admitted")
    return call, doctor, person, interp, ids


async def leg_events(db, appointment_id):
    async with db() as s:
        rows = await s.scalars(select(ParticipantEvent).where(
            ParticipantEvent.appointment_id == appointment_id,
            ParticipantEvent.kind.in_(("leg_failed", "leg_recovered")))
            .order_by(ParticipantEvent.id))
        return [(e.participant_id, e.kind, e.detail) for e in rows]


async def test_a_failed_leg_is_shown_stored_and_its_recovery_too(client, db, settings, world,
                                                                 login):
    call, doctor, person, interp, ids = await three_in_a_call(client, db, settings, world, login)
    c, i = ids["client"], ids["interpreter"]
    await person.send(type="legs", legs=[{"peer": i, "state": "failed"},
                                         {"peer": ids["practitioner"], "state": "connected",
                                          "candidate": "host"}])
    view = await doctor.expect("legs")
    leg = next(x for x in view["legs"] if {x["a"], x["b"]} == {c, i})
    assert leg["state"] == "failed" and leg["since"].endswith("Z")
    other = next(x for x in view["legs"] if {x["a"], x["b"]} == {c, ids["practitioner"]})
    assert other["state"] == "connected" and other["candidates"] == {str(c): "host"}
    # The interpreter's side says the same: no second failure is stored.
    await interp.send(type="legs", legs=[{"peer": c, "state": "failed"}])
    await doctor.expect("legs")
    assert [k for _p, k, _d in await leg_events(db, call.appointment.id)] == ["leg_failed"]

    # Repairing (checking), then connected on both sides: one recovery, with its duration.
    await person.send(type="legs", legs=[{"peer": i, "state": "checking"}])
    await interp.send(type="legs", legs=[{"peer": c, "state": "connected",
                                          "candidate": "relay"}])
    await person.send(type="legs", legs=[{"peer": i, "state": "connected",
                                          "candidate": "relay"}])
    while True:
        view = await doctor.expect("legs")
        leg = next(x for x in view["legs"] if {x["a"], x["b"]} == {c, i})
        if leg["state"] == "connected":
            break
    assert leg["candidates"] == {str(c): "relay", str(i): "relay"}
    events = await leg_events(db, call.appointment.id)
    assert [k for _p, k, _d in events] == ["leg_failed", "leg_recovered"]
    assert events[0][2] == {"peer": i, "a": min(c, i), "b": max(c, i)}
    assert events[1][2]["seconds"] >= 0
    for peer in (interp, person, doctor):
        await peer.close()


async def test_try_again_goes_to_the_offering_side(client, db, settings, world, login):
    _call, doctor, person, interp, ids = await three_in_a_call(client, db, settings, world,
                                                               login)
    c, i = ids["client"], ids["interpreter"]
    await doctor.send(type="repair", a=c, b=i)
    low = interp if i < c else person
    assert (await low.expect("repair"))["peer"] == max(c, i)
    await person.send(type="repair", a=c, b=i)
    await person.error("not_allowed")
    await doctor.send(type="repair", a=c, b=9999)
    await doctor.error("unknown_leg")
    await doctor.send(type="repair", a=c, b=c)
    await doctor.error("unknown_leg")
    for peer in (interp, person, doctor):
        await peer.close()


async def test_bad_leg_reports_get_typed_errors(client, db, settings, world, login):
    call, doctor, person, interp, ids = await three_in_a_call(client, db, settings, world, login)
    # A leg it does not have (someone of no room of ours), a repeated peer, a bad state.
    await person.send(type="legs", legs=[{"peer": 9999, "state": "failed"}])
    assert "9999" in (await person.error("unknown_leg"))["message"]
    await person.send(type="legs", legs=[{"peer": ids["interpreter"], "state": "failed"},
                                         {"peer": ids["interpreter"], "state": "failed"}])
    await person.error("invalid_message")
    await person.send(type="legs", legs=[{"peer": ids["interpreter"], "state": "broken"}])
    assert (await person.error("invalid_message"))["errors"][0]["field"].startswith("legs")
    await person.send(type="legs", legs=[{"peer": ids["interpreter"], "state": "failed",
                                          "candidate": "carrier-pigeon"}])
    await person.error("invalid_message")
    # A flood: typed rate limiting, and nothing wrong reaches the practitioner.
    for _ in range(12):
        await person.send(type="legs", legs=[{"peer": ids["interpreter"], "state": "checking"}])
    await person.error("rate_limited")
    assert not [m for m in doctor.seen if m["type"] == "legs"
                and any(9999 in (x["a"], x["b"]) for x in m["legs"])]
    assert await leg_events(db, call.appointment.id) == []
    for peer in (interp, person, doctor):
        await peer.close()


async def test_a_waiting_person_and_another_rooms_leg_are_refused(client, db, settings, world,
                                                                  login):
    await login(world.users["alice"])
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"])
    other = await remote_call(db, settings, world.users["alice"], world.clients["a2"])
    doctor = await practitioner_peer(client, call.appointment.id)
    waiting = await client_peer(client, call.client_token)
    await waiting.send(type="legs", legs=[{"peer": doctor.seen[0]["you"]["id"],
                                           "state": "failed"}])
    await waiting.error("not_admitted")
    # The other room's practitioner is no peer of anyone here.
    second = await practitioner_peer(client, other.appointment.id)
    await doctor.send(type="legs", legs=[{"peer": second.seen[0]["you"]["id"],
                                          "state": "failed"}])
    await doctor.error("unknown_leg")
    for peer in (waiting, doctor, second):
        await peer.close()
