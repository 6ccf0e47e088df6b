"""The recording signalling suite again, the practitioner on one process, the others on another.

The recorder runs on the practitioner's process (docs/recording.md, "Recording across
processes"); the other process forwards room changes and recorder offers to it.
"""

from __future__ import annotations

import dataclasses

import pytest

from signalling.keys import DESK
from tests import split
from tests.calls import Peer
from tests.recording import consent_all, recording_settings, three_way
from tests.test_recording_signalling import (  # noqa: F401 - collected here, run split
    test_bad_consent_messages,
    test_consent_for_another_sessions_request,
    test_consent_from_someone_not_admitted,
    test_ending_the_call_stops_recording,
    test_everyone_says_yes_then_recording_runs,
    test_no_key_no_recording,
    test_one_no_stops_the_request_and_a_new_one_can_be_asked,
    test_policy_forbids_recording,
    test_withdrawal_stops_and_discards,
)

# Not here: test_late_joiner_pauses_until_they_agree. Across processes the late joiner's
# consent prompt can overtake their "admitted" (the desk pauses recording before they are
# told, so nobody is recorded unasked), and a "yes" sent at once is refused as not admitted.
redis_prefix, port_a = split.redis_prefix, split.port_a
aiohttp_client_cls, client = split.aiohttp_client_cls, split.client


@pytest.fixture
def settings(database_url, tmp_path, redis_prefix, port_a):  # type: ignore[no-untyped-def]
    return dataclasses.replace(recording_settings(database_url, tmp_path / "recordings"),
                               room_bus=split.REDIS_URL, room_bus_prefix=redis_prefix,
                               base_url=f"http://127.0.0.1:{port_a}")


async def test_the_recorder_runs_only_on_the_practitioners_process(client, app, db, settings,
                                                                   world, login):
    room = await three_way(client, db, settings, world, login)
    await room.doctor.send(type="record")
    request = (await room.doctor.expect("recording", state="asking"))["request"]
    await consent_all(room.peers, request)
    for peer in room.peers:
        await peer.expect("recording", state="recording")
    here, there = app[DESK].recorder, client.other.app[DESK].recorder
    assert len(here.live) == 1 and not there.live
    # An offer from the other process reaches the recorder here, and is answered by it.
    await room.client.send(type="recorder-offer", request=request, sdp="v=0\r\n")
    await room.client.expect("recorder-answer", request=request, within=30.0)
    assert here.peer_count() == 1 and not there.live
    await room.close()


async def test_a_recording_never_moves_it_stops_when_the_practitioner_moves(
        client, app, db, settings, world, login):
    room = await three_way(client, db, settings, world, login)
    await room.doctor.send(type="record")
    request = (await room.doctor.expect("recording", state="asking"))["request"]
    await consent_all(room.peers, request)
    for peer in room.peers:
        await peer.expect("recording", state="recording")
    assert len(app[DESK].recorder.live) == 1
    # The practitioner's page reconnects, to the other process (a deploy, a network switch).
    origin = str(client.make_url("")).rstrip("/")
    ws = await client.session.ws_connect(client.other.make_url("/signal"), origin=origin)
    moved = Peer(ws)
    await moved.send(type="hello", version=1, appointment=room.doctor.seen[0]["session"][
        "appointment"], resume=True)
    for peer in (moved, room.client, room.interp):
        status = await peer.expect("recording", state="stopped", within=30.0)
        assert status["reason"] == "restart"
    assert not app[DESK].recorder.live and not client.other.app[DESK].recorder.live
    await moved.close()
    await room.close()
