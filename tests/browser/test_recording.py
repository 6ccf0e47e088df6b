"""Recording in real browsers: three people consent through the dialog, the browsers send
their media to the server's recorder, one withdraws and every recorder peer closes within a
second (measured on the server from the withdrawal message); the sealed files decrypt and open
with PyAV, and hold at least 95 % of the consented interval, sound and picture in step. A
late joiner pauses the recording: no peer and no growing file until they agree."""

from __future__ import annotations

import asyncio
import dataclasses
import io

import av
import pytest
from sqlalchemy import select

from media.recorder import SEEK_EVERY
from policies.policy import OnWithdrawal, RecordingRule
from server import keys
from server.casework.keys import POLICIES
from server.recordings.keyring import parse_keys
from server.store.models import Recording, RecordingState
from signalling.keys import DESK
from tests.browser.calls import WITHIN, admit, joined, phase, practitioner_page
from tests.browser.conftest import LiveServer, NewContext
from tests.calls import remote_call
from tests.conftest import World
from tests.recording import decrypt, media_files, probe, recording_settings, served, settled

pytestmark = pytest.mark.browser

NOT_RECORDED = "This session is not being recorded."
CONSENTED = 40  # seconds recorded before the withdrawal


@pytest.fixture
def settings(database_url, tmp_path):
    return recording_settings(database_url, tmp_path / "recordings")


async def rec(page, wanted: str, within: float = WITHIN) -> None:
    await page.wait_for_function(
        "wanted => rapportCall.recording().state === wanted", arg=wanted, timeout=within * 1000)


async def banner(page) -> str:
    text: str = await page.locator("#recording-state").inner_text()
    return text


async def say_yes(page) -> None:
    dialog = page.get_by_role("dialog", name="May we record this session?")
    await dialog.wait_for()
    assert "Who can see it" in await dialog.inner_text()
    await dialog.get_by_role("button", name="Yes, record").click()
    await dialog.wait_for(state="hidden")


async def until(check, within: float = WITHIN) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"not true within {within}s")
        await asyncio.sleep(0.1)


def sizes(folder):
    return {p.name: p.stat().st_size for p in media_files(folder)}


async def three_in_call(live: LiveServer, world: World, new_context: NewContext):
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live.db, live.app[keys.SETTINGS], alice, person, interpreter=True)
    assert call.interpreter_token is not None
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    client = await joined(new_context, call.client_token)
    interpreter = await joined(new_context, call.interpreter_token, "interpreter",
                               name="Ines Interpreter")
    return call, prac, client, interpreter


async def test_three_consent_one_withdraws_and_the_file_plays(
        live_server: LiveServer, world: World, new_context: NewContext, tmp_path) -> None:
    folder = tmp_path / "recordings"
    desk = live_server.app[DESK]
    store = live_server.app[POLICIES]  # no stored version: the default is in force
    store.default = dataclasses.replace(store.default, recording=RecordingRule(
        on_withdrawal=OnWithdrawal.KEEP))
    call, prac, client, interpreter = await three_in_call(live_server, world, new_context)
    pages = (prac, client, interpreter)
    await phase(client, "waiting")
    await phase(interpreter, "waiting")
    await admit(prac, world.clients["a1"].full_name)
    await admit(prac, "Ines Interpreter")
    for page in pages:
        await phase(page, "in")
        assert await banner(page) == NOT_RECORDED
    assert await client.get_by_role("button", name="Ask to record").count() == 0

    await prac.get_by_role("button", name="Ask to record").click()
    await say_yes(prac)
    await say_yes(client)
    await rec(interpreter, "asking")
    # Two of three said yes: nothing on disk, no recorder peer.
    assert media_files(folder) == [] and desk.recorder.peer_count() == 0
    await say_yes(interpreter)
    for page in pages:
        await rec(page, "recording")
        assert (await banner(page)).startswith("Recording:")
    await until(lambda: desk.recorder.peer_count() == 3)
    await until(lambda: len(media_files(folder)) == 3
                and all(size > 20_000 for size in sizes(folder).values()))
    # Long enough that the browsers' own start (a peer connection to the recorder, its first
    # key frame) is a small part of what was consented to.
    await asyncio.sleep(CONSENTED)

    await client.get_by_role("button", name="Stop recording").click()
    for page in pages:
        await rec(page, "stopped")
        assert "someone stopped it" in await banner(page)
    assert desk.stop_times, "the withdrawal was not timed"
    stopped = desk.stop_times[-1]
    print(f"\nwithdrawal message → every recorder peer closed: {stopped * 1000:.0f} ms")
    assert stopped < 1.0
    assert desk.recorder.peer_count() == 0
    # Told first, then the files are finished; after that nothing reaches the disk.
    await until(lambda: len(desk.recorder.history) == 3)
    frozen = sizes(folder)
    await asyncio.sleep(0.5)
    assert sizes(folder) == frozen

    async with live_server.db() as s:
        [request] = list(await s.scalars(select(Recording.id)))
    row = await settled(live_server.db, request)
    assert row.state is RecordingState.STOPPED and row.stopped_reason == "withdrawn"
    settings = live_server.app[keys.SETTINGS]
    ring = parse_keys(settings.recording_keys, settings.recording_key_id)
    consented = {path: closed - desk.recorder.started[path]
                 for path, _, closed in desk.recorder.history}
    for path, first, _ in desk.recorder.history:
        if first is not None:
            print(f"{path.name}: first frame {first - desk.recorder.started[path]:.2f}s "
                  "after everyone's yes")
    assert len(consented) == 3
    # Each file is timed by its browser's RTCP sender reports (capture times on the one
    # clock its sound and picture share), not by when each track's first packet arrived.
    assert desk.recorder.in_sync == set(consented)
    for path, interval in consented.items():
        counts: dict[str, int] = {}
        plain = decrypt(path, ring)
        codecs, last = probe(plain, counts)
        # Served with a length and a seek index: a key frame at least every SEEK_EVERY
        # seconds (the recorder asks for them), each with its cue.
        with av.open(io.BytesIO(served(plain))) as container:
            length = (container.duration or 0) / 1_000_000
            keys_at = [float(p.pts * p.time_base) for p in container.demux(
                container.streams.video[0]) if p.is_keyframe and p.pts is not None]
        gaps = [b - a for a, b in zip(keys_at, keys_at[1:], strict=False)]
        print(f"{path.name}: {length:.2f}s long, {len(keys_at)} key frames, longest gap "
              f"{max(gaps, default=0):.1f}s")
        assert abs(length - max(last.values())) < 0.2, (length, last)
        assert len(keys_at) >= interval / SEEK_EVERY - 1 and max(gaps) < SEEK_EVERY + 1.5
        assert codecs == {"video": "vp8", "audio": "opus"}, path.name
        print(f"{path.name}: audio {last['audio']:.2f}s ({counts['audio']} packets) video "
              f"{last['video']:.2f}s ({counts['video']} packets) of {interval:.2f}s "
              f"consented (everyone's yes to the withdrawal)")
        # What the browsers sent, kept whole: sound and picture cover at least 95 % of the
        # consented interval, end by the withdrawal, and end together (in sync).
        for kind in ("audio", "video"):
            assert 0.95 * interval <= last[kind] <= interval + 0.1, (kind, last, interval)
        assert abs(last["audio"] - last["video"]) <= 0.1, last


async def test_a_late_joiner_pauses_the_recording(
        live_server: LiveServer, world: World, new_context: NewContext, tmp_path) -> None:
    folder = tmp_path / "recordings"
    desk = live_server.app[DESK]
    desk.recorder.size = (320, 240)
    call, prac, client, interpreter = await three_in_call(live_server, world, new_context)
    await phase(client, "waiting")
    await admit(prac, world.clients["a1"].full_name)
    await phase(client, "in")
    await prac.get_by_role("button", name="Ask to record").click()
    await say_yes(prac)
    await say_yes(client)
    await rec(prac, "recording")
    await until(lambda: len(media_files(folder)) == 2
                and all(size > 5_000 for size in sizes(folder).values()))

    await phase(interpreter, "waiting")
    await admit(prac, "Ines Interpreter")
    await rec(prac, "paused")
    await rec(client, "paused")
    assert "paused" in await banner(client)
    assert desk.recorder.peer_count() == 0
    frozen = sizes(folder)
    await asyncio.sleep(1.0)
    assert sizes(folder) == frozen  # the disk, not a flag

    await say_yes(interpreter)
    for page in (prac, client, interpreter):
        await rec(page, "recording")
    await until(lambda: desk.recorder.peer_count() == 3)
    await until(lambda: len(media_files(folder)) == 5)
