"""The pre-call check's server side: a real aiortc echo peer sends back what it receives,
exists only for the test, is capped, and the result is kept and shown in the waiting list."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from sqlalchemy import select

from media.echo import EchoBusy, EchoPeers
from media.turn import server_peer_config
from server import keys
from server.joining.precall import ECHO
from server.store.models import AuditEvent, PrecallCheck
from tests.calls import open_link, practitioner_peer, remote_call

WITHIN = 20.0


async def _browser_offer() -> tuple[RTCPeerConnection, list[Any]]:
    """A Python stand-in for the browser: audio and video tracks, a complete offer."""
    pc = RTCPeerConnection(server_peer_config())  # no lookup of a public STUN server
    received: list[Any] = []
    pc.on("track", received.append)
    pc.addTrack(AudioStreamTrack())
    pc.addTrack(VideoStreamTrack())
    await pc.setLocalDescription(await pc.createOffer())
    return pc, received


async def eventually(predicate: Any, within: float = WITHIN) -> None:
    """Poll a condition until it holds (state shows up asynchronously)."""
    for _ in range(int(within / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the condition never held")


def _headers(session: aiohttp.ClientSession, base: str) -> dict[str, str]:
    csrf = next(c.value for c in session.cookie_jar if c.key == "rapport_csrf")
    return {"X-CSRF-Token": csrf, "Origin": base, "Accept": "application/json"}


async def _client_session(client, world, settings, db) -> tuple[aiohttp.ClientSession, Any]:
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"])
    session, status = await open_link(client, call.client_token)
    assert status == 303
    return session, call


async def test_echo_sends_back_audio_and_video(client, world, settings, db) -> None:
    session, _call = await _client_session(client, world, settings, db)
    base = str(client.make_url("")).rstrip("/")
    pc, received = await _browser_offer()
    try:
        async with session.post(client.make_url("/precall/echo"), headers=_headers(session, base),
                                json={"sdp": pc.localDescription.sdp}) as response:
            assert response.status == 200, await response.text()
            answer = await response.json()
        assert client.app[ECHO].live, "an echo peer is running for the test"
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
        await eventually(lambda: len(received) >= 2)
        async with asyncio.timeout(WITHIN):
            frames = [await track.recv() for track in received]
        assert sorted(t.kind for t in received) == ["audio", "video"]
        assert len(frames) == 2
    finally:
        await pc.close()
        await session.close()


async def test_result_is_kept_audited_and_shown_to_the_practitioner(
        client, world, settings, db, login) -> None:
    await login(world.users["alice"])
    session, call = await _client_session(client, world, settings, db)
    base = str(client.make_url("")).rstrip("/")
    prac = await practitioner_peer(client, call.appointment.id)
    try:
        result = {"verdict": "weak", "rtt_ms": 420, "loss_percent": 12, "bitrate_kbps": 90,
                  "camera": True, "microphone": True}
        async with session.post(client.make_url("/precall/result"),
                                headers=_headers(session, base), json=result) as response:
            assert response.status == 201, await response.text()
        # The client is not connected to /signal yet, so the practitioner's next roster
        # (when they connect) carries the result; make them connect now.
        from tests.calls import joined_peer

        peer = await joined_peer(client, session)
        await peer.expect("welcome")
        async with asyncio.timeout(WITHIN):
            while True:
                roster = await prac.expect("roster")
                entry = next((p for p in roster["participants"] if p["role"] == "client"), None)
                if entry and entry.get("precall"):
                    break
        assert entry["precall"]["verdict"] == "weak" and entry["precall"]["loss_percent"] == 12
        await peer.close()
    finally:
        await prac.close()
        await session.close()
    async with db() as s:
        rows = list(await s.scalars(select(PrecallCheck)))
        audits = list(await s.scalars(select(AuditEvent).where(
            AuditEvent.action == "precall.result")))
    assert [(r.verdict, r.rtt_ms, r.appointment_id) for r in rows] == [
        ("weak", 420, call.appointment.id)]
    assert len(audits) == 1


async def test_anonymous_and_bad_input_are_refused_clearly(client, world, settings, db) -> None:
    anonymous = await client.post("/precall/echo", json={"sdp": "v=0 " * 10},
                                  headers={"Accept": "application/json"})
    assert anonymous.status in (401, 403)  # no CSRF cookie either: refused before the handler
    session, _call = await _client_session(client, world, settings, db)
    base = str(client.make_url("")).rstrip("/")
    try:
        headers = _headers(session, base)
        for body, field in [({"verdict": "great", "camera": True, "microphone": True}, "verdict"),
                            ({"verdict": "good", "camera": True}, "microphone"),
                            ({"verdict": "good", "camera": True, "microphone": True,
                              "loss_percent": 101}, "loss_percent")]:
            async with session.post(client.make_url("/precall/result"), headers=headers,
                                    json=body) as response:
                assert response.status == 422
                problem = await response.json()
                assert field in {e["field"] for e in problem["errors"]}, problem
        async with session.post(client.make_url("/precall/echo"), headers=headers,
                                json={"sdp": "this is not an offer"}) as response:
            assert response.status == 400, await response.text()
            assert "WebRTC offer" in (await response.json())["detail"]
    finally:
        await session.close()


async def test_echo_peers_are_capped_and_closed() -> None:
    peers = EchoPeers(max_live=1, max_per_caller=2, lifetime=0.2)
    first, _ = await _browser_offer()
    second, _ = await _browser_offer()
    try:
        await peers.answer("p1", first.localDescription.sdp)
        try:
            await peers.answer("p2", second.localDescription.sdp)
            raise AssertionError("a second echo ran past max_live=1")
        except EchoBusy as exc:
            assert "too many" in str(exc)
        await eventually(lambda: not peers.live)  # the lifetime closes it
        await peers.answer("p1", second.localDescription.sdp)
        third, _ = await _browser_offer()
        try:
            await peers.answer("p1", third.localDescription.sdp)
            raise AssertionError("a caller ran more tests than max_per_caller=2")
        except EchoBusy as exc:
            assert "an hour" in str(exc)
        finally:
            await third.close()
    finally:
        await peers.close_all()
        await first.close()
        await second.close()
    assert not peers.live


async def test_echo_peers_close_with_the_app(client, world, settings, db) -> None:
    echo: EchoPeers = client.app[ECHO]
    pc, _ = await _browser_offer()
    try:
        await echo.answer("test", pc.localDescription.sdp)
        assert len(echo.live) == 1
        await echo.close_all()
        assert not echo.live
    finally:
        await pc.close()
    assert client.app[keys.SETTINGS].help_phone
