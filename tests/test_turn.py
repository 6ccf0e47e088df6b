"""TURN credentials (media/turn.py) and a real coturn that accepts or refuses them.

The integration tests start coturn (tests/turnserver.py) with `--use-auth-secret` and connect
two aioice peers with relay-only ICE: every local candidate is a relay candidate on coturn, so
the datagrams exchanged can only have crossed coturn. Expired credentials and credentials
signed with another secret are refused with 401.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aioice
import pytest
from aioice import stun
from aioice import turn as aioice_turn

from media.turn import TurnCredentials, ice_servers, ice_transport_policy, turn_credentials
from server.clock import now
from server.settings import Settings
from tests import turnserver
from tests.turnserver import Coturn, running_coturn

STEP = 10.0  # seconds allowed for each network step (gathering, connecting, a datagram)
JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)  # 1767225600


# --- turn_credentials -------------------------------------------------------------------------


def test_known_answer() -> None:
    # Computed outside Python: printf '%s' "1767229200:p42" | openssl dgst -sha1 -hmac s3cret
    #   -binary | base64
    creds = turn_credentials("s3cret", "p42", 3600, JAN_1)
    assert creds == TurnCredentials(username="1767229200:p42",
                                    credential="5NSDXMvQ9R57KcL5J1+WUjLHMag=",
                                    expires_at=datetime(2026, 1, 1, 1, 0, tzinfo=UTC))


def test_credential_is_base64_hmac_sha1_of_the_username() -> None:
    secret = "another secret, with ünïcode"
    creds = turn_credentials(secret, "p7", 600, JAN_1 + timedelta(seconds=12345))
    expected = hmac.new(secret.encode(), creds.username.encode(), hashlib.sha1).digest()
    assert base64.b64decode(creds.credential, validate=True) == expected
    assert creds.username == f"{1767225600 + 12345 + 600}:p7"


def test_expiry_is_now_plus_ttl_in_whole_unix_seconds() -> None:
    start = datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=UTC)  # just before BST begins
    creds = turn_credentials("s", "p1", 3600, start)
    expiry = int(creds.username.split(":")[0])
    assert expiry == int(start.timestamp()) + 3600  # fractions of a second are dropped
    assert creds.expires_at == datetime(2026, 3, 29, 1, 59, 59, tzinfo=UTC)
    assert creds.expires_at.timestamp() == expiry
    # The same instant in another zone gives the same credentials.
    elsewhere = start.astimezone(timezone(timedelta(hours=-5)))
    assert turn_credentials("s", "p1", 3600, elsewhere) == creds
    # A second later, a different expiry and so a different credential.
    later = turn_credentials("s", "p1", 3600, start + timedelta(seconds=1))
    assert later.username == f"{expiry + 1}:p1" and later.credential != creds.credential


def test_credentials_differ_per_participant_and_secret() -> None:
    base = turn_credentials("s", "p1", 60, JAN_1)
    assert turn_credentials("s", "p2", 60, JAN_1).credential != base.credential
    assert turn_credentials("t", "p1", 60, JAN_1).credential != base.credential


@pytest.mark.parametrize("participant", ["", ":", "p:1", "1767229200:p42"])
def test_participant_with_a_colon_or_empty_is_rejected(participant: str) -> None:
    with pytest.raises(ValueError, match="participant"):
        turn_credentials("s", participant, 60, JAN_1)


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="secret"):
        turn_credentials("", "p1", 60, JAN_1)
    with pytest.raises(ValueError, match="lifetime"):
        turn_credentials("s", "p1", 0, JAN_1)
    with pytest.raises(ValueError, match="timezone-aware"):
        turn_credentials("s", "p1", 60, datetime(2026, 1, 1))  # noqa: DTZ001


# --- ice_servers and ice_transport_policy -----------------------------------------------------

STUN = ("stun:stun.example.test:3478",)
TURN = ("turn:turn.example.test:3478?transport=udp", "turn:turn.example.test:3478?transport=tcp")


def test_no_servers_configured() -> None:
    assert ice_servers(Settings(), "p1", JAN_1) == []
    assert ice_transport_policy(Settings()) == "all"


def test_stun_only() -> None:
    assert ice_servers(Settings(stun_urls=STUN), "p1", JAN_1) == [{"urls": list(STUN)}]


def test_turn_only_carries_minted_credentials() -> None:
    settings = Settings(turn_urls=TURN, turn_secret="s3cret", turn_ttl_seconds=3600)
    creds = turn_credentials("s3cret", "p42", 3600, JAN_1)
    assert ice_servers(settings, "p42", JAN_1) == [
        {"urls": list(TURN), "username": creds.username, "credential": creds.credential}]


def test_stun_and_turn_in_that_order() -> None:
    settings = Settings(stun_urls=STUN, turn_urls=TURN, turn_secret="s3cret",
                        turn_ttl_seconds=120)
    servers = ice_servers(settings, "p3", JAN_1)
    assert [s["urls"] for s in servers] == [list(STUN), list(TURN)]
    assert "username" not in servers[0] and "credential" not in servers[0]
    assert servers[1]["username"] == f"{1767225600 + 120}:p3"
    # What the browser receives in the signalling message: plain JSON.
    assert json.loads(json.dumps(servers)) == servers


def test_ice_servers_rejects_a_participant_with_a_colon() -> None:
    settings = Settings(turn_urls=TURN, turn_secret="s3cret")
    with pytest.raises(ValueError, match="participant"):
        ice_servers(settings, "p:1", JAN_1)


def test_transport_policy_follows_force_relay() -> None:
    relay = Settings(turn_urls=TURN, turn_secret="s", force_relay=True).validate()
    assert ice_transport_policy(relay) == "relay"
    assert ice_transport_policy(Settings(turn_urls=TURN, turn_secret="s")) == "all"


# --- the helper's missing-binary rule ---------------------------------------------------------


def test_missing_turnserver_skips_locally_and_fails_in_ci(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(turnserver, "TURNSERVER", tmp_path / "no-turnserver")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y coturn"):
        turnserver.turnserver_path()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y coturn"):
        turnserver.turnserver_path()


# --- a real coturn ----------------------------------------------------------------------------


@pytest.fixture
async def coturn(tmp_path: Path) -> AsyncIterator[Coturn]:
    async with running_coturn(tmp_path / "coturn") as server:
        yield server


def _server_of(url: str) -> tuple[str, int]:
    """("127.0.0.1", 3478) from "turn:127.0.0.1:3478?transport=udp"."""
    match = re.fullmatch(r"turns?:([^:?]+):(\d+)(\?transport=udp)?", url)
    assert match, url
    return match.group(1), int(match.group(2))


def _peer(controlling: bool, ice_server: dict[str, Any]) -> aioice.Connection:
    """A relay-only ICE agent configured from one RTCIceServer entry, as a browser would be."""
    return aioice.Connection(
        ice_controlling=controlling,
        turn_server=_server_of(ice_server["urls"][0]),
        turn_username=ice_server["username"],
        turn_password=ice_server["credential"],
        turn_transport="udp",
        use_ipv6=False,
        transport_policy=aioice.TransportPolicy.RELAY,
    )


def _turn_entry(settings: Settings, participant: str, at: datetime) -> dict[str, Any]:
    (entry,) = [s for s in ice_servers(settings, participant, at) if "username" in s]
    return entry


async def _relay_only_pair(coturn: Coturn) -> tuple[aioice.Connection, aioice.Connection]:
    """Two relay-only peers configured from `ice_servers`, candidates gathered and checked,
    and exchanged (the signalling done by hand), ready to `connect()`."""
    settings = coturn.settings(force_relay=True).validate()
    assert ice_transport_policy(settings) == "relay"
    a = _peer(True, _turn_entry(settings, "p1", now()))
    b = _peer(False, _turn_entry(settings, "p2", now()))
    try:
        await asyncio.wait_for(asyncio.gather(a.gather_candidates(), b.gather_candidates()),
                               STEP)
        for peer in (a, b):
            candidates = peer.local_candidates
            assert candidates, f"no candidate gathered:\n{coturn.log()}"
            # Relay candidates only: addresses allocated by coturn on its relay IP, none of
            # the peer's own sockets. With the RELAY policy aioice opens no host socket at
            # all, so whatever the peers exchange goes through coturn.
            assert [c.type for c in candidates] == ["relay"] * len(candidates)
            assert {c.host for c in candidates} == {coturn.host}
            assert all(c.port != coturn.port for c in candidates)
        assert {c.port for c in a.local_candidates}.isdisjoint(
            {c.port for c in b.local_candidates})
        for local, remote in ((a, b), (b, a)):
            remote.remote_username = local.local_username
            remote.remote_password = local.local_password
            for candidate in local.local_candidates:
                await remote.add_remote_candidate(candidate)
            await remote.add_remote_candidate(None)
    except BaseException:
        await asyncio.wait_for(asyncio.gather(a.close(), b.close()), STEP)
        raise
    return a, b


async def test_two_peers_connect_through_coturn_with_relay_only_ice(coturn: Coturn) -> None:
    a, b = await _relay_only_pair(coturn)
    try:
        await asyncio.wait_for(asyncio.gather(a.connect(), b.connect()), STEP)
        await a.send(b"hello from p1")
        assert await asyncio.wait_for(b.recv(), STEP) == b"hello from p1"
        await b.send(b"hello from p2")
        assert await asyncio.wait_for(a.recv(), STEP) == b"hello from p2"
    finally:
        await asyncio.wait_for(asyncio.gather(a.close(), b.close()), STEP)


async def test_peers_cannot_connect_when_coturn_will_not_relay_between_them(
        tmp_path: Path) -> None:
    """The control: the same peers, but coturn refuses to relay to 127.0.0.1. They still get
    relay candidates, yet never connect, because their only path is through coturn."""
    denied = ("--denied-peer-ip=127.0.0.1",)
    async with running_coturn(tmp_path / "coturn", extra_args=denied) as coturn:
        a, b = await _relay_only_pair(coturn)
        try:
            # Connecting takes milliseconds when allowed (the test above); here it never does.
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncio.gather(a.connect(), b.connect()), 2.0)
        finally:
            await asyncio.wait_for(asyncio.gather(a.close(), b.close()), STEP)
    assert "A peer IP 127.0.0.1 denied" in coturn.log()


async def _allocate(coturn: Coturn, creds: TurnCredentials) -> None:
    """One TURN Allocate with these credentials (what gathering a relay candidate does)."""
    transport, _ = await asyncio.wait_for(aioice_turn.create_turn_endpoint(
        asyncio.DatagramProtocol, server_addr=coturn.address, username=creds.username,
        password=creds.credential, transport="udp"), STEP)
    transport.close()


async def _refused(coturn: Coturn, creds: TurnCredentials) -> tuple[int, str]:
    """The STUN error coturn answers an Allocate with, and a gathering attempt's result."""
    with pytest.raises(stun.TransactionFailed) as failure:
        await _allocate(coturn, creds)
    code, reason = failure.value.response.attributes["ERROR-CODE"]

    # Seen from an ICE agent: gathering completes, with no candidate at all.
    peer = _peer(True, {"urls": [coturn.url], "username": creds.username,
                        "credential": creds.credential})
    try:
        await asyncio.wait_for(peer.gather_candidates(), STEP)
        assert peer.local_candidates == []
    finally:
        await peer.close()
    return code, reason


async def test_expired_credentials_are_refused(coturn: Coturn) -> None:
    fresh = turn_credentials(coturn.secret, "p1", 60, now())
    await _allocate(coturn, fresh)  # the same server accepts fresh credentials

    # Minted two minutes ago for one minute: expired a minute ago.
    expired = turn_credentials(coturn.secret, "p1", 60, now() - timedelta(minutes=2))
    assert expired.expires_at < now()
    assert await _refused(coturn, expired) == (401, "Unauthorized")


async def test_credentials_signed_with_another_secret_are_refused(coturn: Coturn) -> None:
    forged = turn_credentials(coturn.secret + "x", "p1", 3600, now())
    assert await _refused(coturn, forged) == (401, "Unauthorized")
