"""Several processes in one test loop: order and completeness of relays, a process beside.

Process A serves the practitioner, process B the people who open a link (tests/split.py).
"""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestServer
from sqlalchemy import select

from server.app import create_app
from server.store.models import Participant, ParticipantEvent, ParticipantState
from signalling.keys import WATCH
from tests import split
from tests.test_signalling import admitted_pair
from tests.test_signalling import call as call_fixture

redis_prefix, port_a, settings = split.redis_prefix, split.port_a, split.settings
aiohttp_client_cls, client, call = split.aiohttp_client_cls, split.client, call_fixture

N = 150  # under the connection's burst, so the rate limit never drops one


def _candidate(i: int) -> dict[str, object]:
    return {"candidate": f"candidate:{i} 1 udp 1 127.0.0.1 {5000 + i} typ host",
            "sdpMid": "0", "sdpMLineIndex": 0}


async def _flood(peer, to: int) -> None:  # type: ignore[no-untyped-def]
    for i in range(N):
        await peer.send(type="candidate", to=to, candidate=_candidate(i))


async def _received(peer, sender: int) -> list[int]:  # type: ignore[no-untyped-def]
    got: list[int] = []
    while len(got) < N:
        message = await peer.expect("candidate", within=60.0, **{"from": sender})
        got.append(int(message["candidate"]["candidate"].split()[0].split(":")[1]))
    return got


async def test_relays_keep_their_order_and_none_is_lost_between_processes(client, db, call):
    doctor, person, person_id = await admitted_pair(client, call)
    doctor_id = doctor.seen[0]["you"]["id"]
    # Both directions at once, each end on its own process.
    _, _, to_person, to_doctor = await asyncio.gather(
        _flood(doctor, person_id), _flood(person, doctor_id),
        _received(person, doctor_id), _received(doctor, person_id))
    assert to_person == list(range(N))
    assert to_doctor == list(range(N))
    await person.close()
    await doctor.close()


async def _connections(db, appointment_id: int) -> dict[int, tuple[str | None, str]]:  # type: ignore[no-untyped-def]
    async with db() as s:
        rows = await s.scalars(select(Participant).where(
            Participant.appointment_id == appointment_id))
        return {p.id: (p.connection_id, p.state.value) for p in rows}


async def test_a_process_started_beside_disturbs_nobody(client, db, settings, call):
    doctor, person, person_id = await admitted_pair(client, call)
    before = await _connections(db, call.appointment.id)
    third = TestServer(create_app(settings))
    await third.start_server()
    try:
        watch = third.app[WATCH]
        for _ in range(600):  # its liveness watch has looked at everyone at least twice
            if watch.passes >= 2:
                break
            await asyncio.sleep(0.1)
        assert watch.passes >= 2
        assert await _connections(db, call.appointment.id) == before
        assert all(state == ParticipantState.ADMITTED.value for _, state in before.values())
        async with db() as s:
            kinds = list(await s.scalars(select(ParticipantEvent.kind).where(
                ParticipantEvent.appointment_id == call.appointment.id)))
        assert "disconnected" not in kinds and "interrupted" not in kinds
        # The call carries on across the first two processes.
        await doctor.send(type="offer", to=person_id, sdp="v=0 still here")
        assert (await person.expect("offer"))["sdp"] == "v=0 still here"
    finally:
        await third.close()
    await person.close()
    await doctor.close()
