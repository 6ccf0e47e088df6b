"""A real coturn for tests: TURN REST credentials (use-auth-secret), UDP, loopback only.

Not a test module; import it from tests that need a TURN server:

    from tests.turnserver import running_coturn

    async def test_something(tmp_path: Path) -> None:
        async with running_coturn(tmp_path) as turn:
            turn.url      # "turn:127.0.0.1:PORT?transport=udp" (for RTCIceServer.urls)
            turn.secret   # coturn's static-auth-secret: mint credentials with media.turn
            turn.settings(settings, force_relay=True)  # your Settings, pointed at this coturn

The server listens on 127.0.0.1 at a free port (UDP and TCP), relays on 127.0.0.1 and accepts
loopback peers, so two browsers or two aioice connections on this machine can talk through it
with relay-only ICE. Every relayed packet really crosses coturn: the relay candidates are
coturn's own sockets. It is started with an empty configuration file, so the system's
/etc/turnserver.conf (Debian's enables syslog, for instance) changes nothing, and it writes its
log, pid file and SQLite user database under the given folder. It is stopped (SIGTERM, then
SIGKILL after a few seconds) when the block ends, also when the test fails.

coturn must be at /usr/bin/turnserver (Debian package `coturn`); RAPPORT_TEST_TURNSERVER may
point elsewhere. Without it the test is skipped, unless `CI` is set, where that is a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import secrets
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from server.settings import Settings

TURNSERVER = Path(os.environ.get("RAPPORT_TEST_TURNSERVER", "/usr/bin/turnserver"))
HOST = "127.0.0.1"
REALM = "rapport.test"
# coturn starts in well under a second; a loaded CI machine gets some slack.
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0

_MAGIC_COOKIE = 0x2112A442
_BINDING_REQUEST = 0x0001
_BINDING_SUCCESS = 0x0101


@dataclass(frozen=True)
class Coturn:
    """A running coturn: where it listens and the secret it checks credentials against."""

    host: str
    port: int
    secret: str
    realm: str
    folder: Path

    @property
    def url(self) -> str:
        """The TURN URL for RTCIceServer.urls and `Settings.turn_urls` (UDP)."""
        return f"turn:{self.host}:{self.port}?transport=udp"

    @property
    def stun_url(self) -> str:
        """coturn answers STUN too, on the same port."""
        return f"stun:{self.host}:{self.port}"

    @property
    def address(self) -> tuple[str, int]:
        """(host, port), as aioice's `turn_server` wants it."""
        return (self.host, self.port)

    @property
    def log_path(self) -> Path:
        return self.folder / "turnserver.log"

    def log(self) -> str:
        """coturn's log so far (for assertion messages when something did not connect)."""
        parts = []
        for path in (self.log_path, self.folder / "turnserver.out"):
            with contextlib.suppress(OSError):
                parts.append(path.read_text(encoding="utf-8", errors="replace"))
        return "\n".join(parts)

    def settings(self, base: Settings | None = None, *, force_relay: bool = False) -> Settings:
        """`base` (default: `Settings()`) pointing browsers at this server only: TURN URL,
        its secret, no STUN; `force_relay=True` makes `ice_transport_policy` say "relay"."""
        return dataclasses.replace(base or Settings(), stun_urls=(), turn_urls=(self.url,),
                                   turn_secret=self.secret, force_relay=force_relay)


def turnserver_path() -> Path:
    """The coturn binary; skips the test when it is missing (fails instead when CI is set)."""
    if not TURNSERVER.exists():
        message = (f"{TURNSERVER} is missing; TURN tests need Debian's coturn: "
                   "run `apt-get install -y coturn`")
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return TURNSERVER


def free_port(host: str = HOST) -> int:
    """A port free for both UDP and TCP on `host` (coturn listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port: int = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no port free for both UDP and TCP")


class _Probe(asyncio.DatagramProtocol):
    """Sends STUN Binding requests; its future resolves on the first success response."""

    def __init__(self) -> None:
        self.transaction = secrets.token_bytes(12)
        self.answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def request(self) -> bytes:
        return struct.pack("!HHI", _BINDING_REQUEST, 0, _MAGIC_COOKIE) + self.transaction

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if (len(data) >= 20 and struct.unpack("!H", data[:2])[0] == _BINDING_SUCCESS
                and data[8:20] == self.transaction and not self.answered.done()):
            self.answered.set_result(None)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP port unreachable until coturn has bound its socket: keep asking


async def _wait_until_answering(host: str, port: int,
                                process: asyncio.subprocess.Process) -> None:
    """Until coturn answers a STUN Binding request on its UDP port (the caller bounds it)."""
    loop = asyncio.get_running_loop()
    transport, probe = await loop.create_datagram_endpoint(_Probe, remote_addr=(host, port))
    try:
        while not probe.answered.done():
            if process.returncode is not None:
                raise RuntimeError(f"turnserver exited with status {process.returncode}")
            transport.sendto(probe.request())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(probe.answered), 0.05)
    finally:
        transport.close()


def _arguments(folder: Path, port: int, secret: str, host: str = HOST) -> list[str]:
    """turnserver's command line; creates `folder` and the empty configuration file."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "turnserver.conf"
    config.write_text("# empty: every option is on the command line\n", encoding="utf-8")
    return [
        "-c", str(config),
        f"--listening-ip={host}", f"--listening-port={port}",
        # Relay on loopback and allow loopback peers, or coturn refuses to relay between two
        # peers whose relay addresses are on 127.0.0.1 (its default forbids loopback peers).
        f"--relay-ip={host}", "--allow-loopback-peers",
        "--use-auth-secret", f"--static-auth-secret={secret}", f"--realm={REALM}",
        "--no-cli", "--no-tls", "--no-dtls",
        # Without RFC 5780 coturn opens no alternative port (listening-port + 1).
        "--no-rfc5780",
        # Its own log file, written line by line (stdout is block-buffered into a file and
        # lost when coturn is stopped).
        f"--log-file={folder / 'turnserver.log'}", "--simple-log",
        f"--pidfile={folder / 'turnserver.pid'}", f"--userdb={folder / 'turndb'}",
    ]


@contextlib.asynccontextmanager
async def running_coturn(folder: Path, *, secret: str | None = None,
                         extra_args: tuple[str, ...] = (), host: str = HOST
                         ) -> AsyncIterator[Coturn]:
    """Run coturn on `host` (127.0.0.1 unless a test made another address of its own, as
    the NAT test does) at a free port until the block ends.

    `folder` (e.g. pytest's `tmp_path`) receives the log, pid file and user database.
    `secret` defaults to a random one. `extra_args` go to turnserver as they are
    (e.g. ("--verbose",) when investigating).
    """
    binary = turnserver_path()
    secret = secret or secrets.token_urlsafe(24)
    port = free_port(host)
    args = [*_arguments(folder, port, secret, host), *extra_args]
    with (folder / "turnserver.out").open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            str(binary), *args, stdin=asyncio.subprocess.DEVNULL, stdout=out,
            stderr=asyncio.subprocess.STDOUT)
    turn = Coturn(host=host, port=port, secret=secret, realm=REALM, folder=folder)
    try:
        try:
            async with asyncio.timeout(START_TIMEOUT):
                await _wait_until_answering(host, port, process)
        except (TimeoutError, RuntimeError) as exc:
            raise RuntimeError(f"coturn did not start on {host}:{port} ({exc!r}):\n"
                               f"{turn.log()}") from None
        yield turn
    finally:
        await _stop(process)


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    else:
        await process.wait()
