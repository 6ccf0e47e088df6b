"""The recorder end to end with real WebRTC: aiortc peers stand in for browsers, offering their
audio and video over the /signal socket. Checks the disk, not flags: sealed files appear only
while everyone present has said yes, stop growing at once when anyone has not, and decrypt to
Matroska with VP8 and Opus whose duration matches the recorded interval."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from sqlalchemy import select

from policies.policy import OnWithdrawal, RecordingRule
from server.casework.keys import POLICIES
from server.recordings.keyring import parse_keys
from server.store.models import Recording, RecordingState
from signalling.keys import DESK
from tests.calls import client_peer, practitioner_peer, remote_call
from tests.recording import (
    INTERPRETER_CHECKS,
    consent_all,
    decrypt,
    media_files,
    probe,
    recording_settings,
    send_to_recorder,
    three_way,
)

# The withdrawal-to-stop times measured by these tests (reported in docs/recording.md).
MEASURED: list[float] = []


@pytest.fixture
def settings(database_url, tmp_path):
    return recording_settings(database_url, tmp_path / "recordings")


@pytest.fixture
def desk(app):
    desk = app[DESK]
    desk.recorder.size = (160, 120)  # small frames: the machine is shared
    return desk


async def until(check, within: float = 20.0, step: float = 0.02) -> float:
    """Poll until `check()` is true; the seconds it took."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not check():
        if loop.time() - start > within:
            raise AssertionError(f"not true within {within}s: {check}")
        await asyncio.sleep(step)
    return loop.time() - start


def sizes(folder):
    return {p.name: p.stat().st_size for p in media_files(folder)}


async def test_three_consent_record_then_one_withdraws(client, app, db, settings, world, login,
                                                       desk, tmp_path):
    folder = tmp_path / "recordings"
    store = app[POLICIES]  # no stored version: the shipped default is in force
    store.default = dataclasses.replace(store.default, recording=RecordingRule(
        on_withdrawal=OnWithdrawal.KEEP))
    room = await three_way(client, db, settings, world, login)
    await room.doctor.send(type="record")
    request = (await room.doctor.expect("recording", state="asking"))["request"]
    # Asking is not consent: the recorder refuses offers, and nothing is on disk.
    await room.client.send(type="recorder-offer", request=request, sdp="v=0")
    await room.client.error("recorder_refused")
    assert media_files(folder) == [] and desk.recorder.peer_count() == 0

    await consent_all(room.peers, request)
    await room.doctor.expect("recording", state="recording")
    pcs = [await send_to_recorder(peer, request) for peer in room.peers]
    await until(lambda: len(media_files(folder)) == 3
                and all(size > 4000 for size in sizes(folder).values()))
    await asyncio.sleep(1.5)  # let a known stretch of media flow
    assert desk.recorder.peer_count() == 3

    await room.client.send(type="withdraw", request=request)
    stopped = await until(lambda: desk.recorder.peer_count() == 0, within=5.0, step=0.005)
    MEASURED.append(stopped)
    print(f"\nwithdrawal → every recorder peer closed: {stopped * 1000:.0f} ms")
    assert stopped < 1.0, f"recording stopped {stopped:.2f}s after the withdrawal"
    await room.doctor.expect("recording", state="stopped")
    # Told before the ledger is written; then the files are finished (their last sealed
    # chunk holds only what arrived before the withdrawal, checked below) and nothing more
    # reaches the disk.
    await until(lambda: len(desk.recorder.history) == 3, within=10.0)
    frozen = sizes(folder)
    await asyncio.sleep(0.3)
    assert sizes(folder) == frozen

    async with db() as s:
        [row] = list(await s.scalars(select(Recording)))
    assert row.state is RecordingState.STOPPED and row.deleted_at is None  # kept (policy)
    ring = parse_keys(settings.recording_keys, settings.recording_key_id)
    for path in media_files(folder):
        raw = path.read_bytes()
        assert b"webm" not in raw.lower() and b"matroska" not in raw.lower()  # sealed
        codecs, last = probe(decrypt(path, ring))
        assert codecs == {"video": "vp8", "audio": "opus"}
        # Sound and picture end by the withdrawal. They cover the stretch from the first
        # frame to it (tests/browser/test_recording.py holds that bound, with senders in
        # other processes); here the senders share the server's one event loop and, on this
        # shared machine, fall behind real time under load, so the lower bound is loose.
        flowed = next(closed - first for p, first, closed in desk.recorder.history
                      if p == path and first is not None)
        for kind in ("audio", "video"):
            assert 0.4 * flowed <= last[kind] <= flowed + 0.3, (kind, last, flowed)
    for pc in pcs:
        await pc.close()
    await room.close()


async def test_no_bytes_or_peers_while_a_late_joiner_has_not_agreed(client, app, db, settings,
                                                                   world, login, desk,
                                                                   tmp_path):
    folder = tmp_path / "recordings"
    await login(world.users["alice"])
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"],
                             interpreter=True)
    doctor = await practitioner_peer(client, call.appointment.id)
    person = await client_peer(client, call.client_token)
    await doctor.send(type="admit", participant=person.seen[0]["you"]["id"])
    await person.expect("admitted")
    await doctor.send(type="record")
    request = (await doctor.expect("recording", state="asking"))["request"]
    await consent_all([doctor], request)
    await doctor.expect("recording", state="asking")
    assert media_files(folder) == [] and desk.recorder.peer_count() == 0
    await consent_all([person], request)
    await doctor.expect("recording", state="recording")
    pcs = [await send_to_recorder(p, request) for p in (doctor, person)]
    await until(lambda: len(media_files(folder)) == 2
                and all(size > 2000 for size in sizes(folder).values()))

    assert call.interpreter_token is not None
    interp = await client_peer(client, call.interpreter_token, checklist=INTERPRETER_CHECKS)
    await doctor.send(type="admit", participant=interp.seen[0]["you"]["id"])
    await doctor.expect("recording", state="paused")
    # The disk, not a flag: no recorder peer, and no file grows while the joiner is asked.
    assert desk.recorder.peer_count() == 0 and not desk.recorder.live
    frozen = sizes(folder)
    await asyncio.sleep(0.5)
    assert sizes(folder) == frozen
    await interp.send(type="recorder-offer", request=request, sdp="v=0")
    await interp.error("recorder_refused")

    await consent_all([interp], request)
    await doctor.expect("recording", state="recording")
    for pc in pcs:
        await pc.close()
    pcs = [await send_to_recorder(p, request) for p in (doctor, person, interp)]
    await until(lambda: len(media_files(folder)) == 5)  # a second segment per person
    await doctor.send(type="end")
    await until(lambda: desk.recorder.peer_count() == 0, within=5.0)
    for pc in pcs:
        await pc.close()
    for peer in (interp, person, doctor):
        await peer.close()


class FullDisk:
    """A file whose every write fails as a full disk does."""

    def write(self, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


async def test_a_full_disk_stops_recording_and_tells_the_practitioner(
        client, app, db, settings, world, login, desk):
    room = await three_way(client, db, settings, world, login)
    await room.doctor.send(type="record")
    request = (await room.doctor.expect("recording", state="asking"))["request"]
    await consent_all(room.peers, request)
    await room.doctor.expect("recording", state="recording")
    pcs = [await send_to_recorder(room.client, request)]
    writer = next(iter(desk.recorder.live[room.doctor.seen[0]["session"]["appointment"]]
                       .writers.values()))
    writer.sealed._out = FullDisk()  # noqa: SLF001 - the disk fills up under the writer
    error = await room.doctor.error("recording_unavailable", within=20)
    assert "No space left on device" in error["message"]
    status = await room.client.expect("recording", state="failed")
    assert status["reason"] == "failed"
    await until(lambda: desk.recorder.peer_count() == 0, within=5.0)
    async with db() as s:
        [row] = list(await s.scalars(select(Recording)))
    assert row.state is RecordingState.FAILED and "No space left" in row.error
    for pc in pcs:
        await pc.close()
    await room.close()
