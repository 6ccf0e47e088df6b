"""The server's own WebRTC peers (the recorder, the pre-call echo) never ask a third party:
they use the STUN servers the deployment configured, and none when none are. aiortc's default
would look up and ask Google's public STUN server for every peer, and where the lookup goes
unanswered, hold the answer (and the start of a recording) for seconds."""

from __future__ import annotations

import dataclasses
import socket

import pytest
from aiortc import RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from media.echo import EchoPeers
from media.recorder import RecorderManager
from media.sealed import KeyRing, new_key_entry
from media.turn import server_peer_config
from server import keys
from server.joining.precall import ECHO
from server.recordings.keyring import parse_keys
from signalling.keys import DESK
from tests.recording import recording_settings

STUN = ("stun:127.0.0.1:3478",)


@pytest.fixture
def settings(database_url, tmp_path):
    return dataclasses.replace(recording_settings(database_url, tmp_path / "recordings"),
                               stun_urls=STUN)


@pytest.fixture
def lookups(monkeypatch) -> list[str]:
    """Every host name looked up (aioice resolves STUN servers with gethostbyname)."""
    asked: list[str] = []
    real = socket.gethostbyname

    def looking_up(host: str) -> str:
        asked.append(host)
        return real(host)

    monkeypatch.setattr(socket, "gethostbyname", looking_up)
    return asked


async def _offer() -> RTCPeerConnection:
    pc = RTCPeerConnection(server_peer_config())
    pc.addTrack(AudioStreamTrack())
    pc.addTrack(VideoStreamTrack())
    await pc.setLocalDescription(await pc.createOffer())
    return pc


def test_configured_stun_only() -> None:
    assert server_peer_config().iceServers == []
    [server] = server_peer_config(("stun:stun.example.org:3478",)).iceServers
    assert server.urls == ["stun:stun.example.org:3478"]


async def test_the_echo_peer_asks_nobody(lookups: list[str]) -> None:
    peers = EchoPeers()
    browser = await _offer()
    try:
        answer = await peers.answer("p1", browser.localDescription.sdp)
    finally:
        await peers.close_all()
        await browser.close()
    assert "typ srflx" not in answer
    assert lookups == []


async def test_the_recorder_asks_nobody(lookups: list[str], tmp_path) -> None:
    ring: KeyRing = parse_keys((new_key_entry("k1"),), "k1")
    recorder = RecorderManager(tmp_path, ring)
    await recorder.start(1, 1, 1)
    browser = await _offer()
    try:
        answer = await recorder.accept(1, 1, browser.localDescription.sdp)
    finally:
        await recorder.stop(1)
        await browser.close()
    assert "typ srflx" not in answer
    assert lookups == []


async def test_the_app_gives_its_peers_the_deployments_stun(client) -> None:
    assert client.app[keys.SETTINGS].stun_urls == STUN
    for ice in (client.app[DESK].recorder.ice, client.app[ECHO].ice):
        [server] = ice.iceServers
        assert server.urls == list(STUN)
