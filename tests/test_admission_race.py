"""Admission and relaying interleaved (issue #13): a page that has seen itself admitted in a
roster must be able to answer at once, however long the rest of the admission takes.

Under load the admission's tail (the roster to everyone else, the recording desk's
re-decision, then `admitted` to the person) can take long enough for the admitted page to
answer an offer it was sent meanwhile. The connection used to learn of the admission only
from `admitted`, so the answer and the candidates were refused `not_admitted` and lost.
"""

from __future__ import annotations

import asyncio
from typing import Any

from signalling.keys import BUS, ROOMS
from tests.calls import client_peer, joined_peer, practitioner_peer, remote_call

INTERPRETER_CHECKS = {"interpreter.private": True, "interpreter.confidential": True}


def hold_admissions(app: Any) -> asyncio.Event:
    """Make every room change wait (as a loaded machine would) until the event is set."""
    rooms = app[ROOMS]
    release = asyncio.Event()
    original = rooms.on_change

    async def slow(appointment_id: int) -> None:
        await release.wait()
        if original is not None:
            await original(appointment_id)

    rooms.on_change = slow
    return release


async def test_answer_relayed_while_the_admission_is_still_finishing(
        client, app, db, settings, world, login):
    await login(world.users["alice"])
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"],
                             interpreter=True)
    doctor = await practitioner_peer(client, call.appointment.id)
    assert call.interpreter_token is not None
    interp = await client_peer(client, call.interpreter_token, checklist=INTERPRETER_CHECKS,
                               name="Ola Nowak")
    person = await client_peer(client, call.client_token)
    ids = {m["you"]["role"]: m["you"]["id"] for m in (person.seen[0], interp.seen[0])}
    await doctor.send(type="admit", participant=ids["interpreter"])
    await interp.expect("admitted")

    release = hold_admissions(app)
    await doctor.send(type="admit", participant=ids["client"])
    # The roster that shows the client admitted reaches everyone while the admission is
    # still held; the interpreter offers, the client answers with candidates.
    roster = await person.expect("roster")
    assert {p["id"] for p in roster["participants"]} >= set(ids.values())
    await interp.expect("roster")
    await interp.send(type="offer", to=ids["client"], sdp="v=0 offer")
    assert (await person.expect("offer"))["from"] == ids["interpreter"]
    await person.send(type="answer", to=ids["interpreter"], sdp="v=0 answer")
    await person.send(type="candidate", to=ids["interpreter"],
                      candidate={"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host",
                                 "sdpMid": "0", "sdpMLineIndex": 0})
    answer = await interp.expect("answer")
    assert answer["from"] == ids["client"] and answer["sdp"] == "v=0 answer"
    assert (await interp.expect("candidate"))["from"] == ids["client"]
    assert not [m for m in person.seen if m["type"] == "error"], person.seen
    # The page heard "admitted" with the roster, once, and before anything relayed to it.
    release.set()
    await person.send(type="ping")
    await person.expect("pong")
    kinds = [m["type"] for m in person.seen]
    assert kinds.count("admitted") == 1, kinds
    assert kinds.index("admitted") < kinds.index("offer"), kinds
    for peer in (interp, person, doctor):
        await peer.close()


async def test_a_roster_older_than_the_connection_does_not_admit_it(
        client, app, db, settings, world, login):
    """A snapshot read before a person left and came back must not let them relay."""
    await login(world.users["alice"])
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"])
    doctor = await practitioner_peer(client, call.appointment.id)
    person = await client_peer(client, call.client_token)
    pid = person.seen[0]["you"]["id"]
    await doctor.send(type="admit", participant=pid)
    await person.expect("admitted")
    stale = await doctor.expect("roster")
    while not any(p["id"] == pid and p["state"] == "admitted" for p in stale["participants"]):
        stale = await doctor.expect("roster")
    await person.send(type="leave")
    await person.closed()
    again = await joined_peer(client, person.session)
    assert (await again.expect("welcome"))["you"]["state"] == "waiting"
    await again.expect("waiting")
    # The old snapshot (it shows them admitted) arrives late, after they came back.
    await app[BUS].send(call.appointment.id, pid, stale)
    await again.send(type="offer", to=doctor.seen[0]["you"]["id"], sdp="v=0")
    await again.error("not_admitted")
    assert "admitted" not in [m["type"] for m in again.seen]
    for peer in (again, doctor):
        await peer.close()
