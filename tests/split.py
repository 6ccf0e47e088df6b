"""Two Rapport processes sharing one database and one Redis, in the test's event loop.

`SplitClient` is the test client of process A; staff (this client's own cookies and its own
WebSocket) talk to A, while link pages and the sockets of people who opened a link go to
process B. So every protocol test run through it has the two ends of each room on different
processes, and every message between them travels through Redis.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis
from yarl import URL

from server.app import create_app

REDIS_URL = os.environ.get("RAPPORT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def prefix() -> str:
    """A key prefix of this test's own (the Redis is shared with other work)."""
    return f"rapport-test-{uuid.uuid4().hex[:10]}"


async def forget(prefix: str, url: str = REDIS_URL) -> None:
    """Delete every key under the prefix."""
    redis = Redis.from_url(url)
    try:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}:*", count=500)]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


async def redis_up() -> bool:
    redis = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        return bool(await redis.ping())
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            await redis.aclose()


class SplitClient(TestClient):  # type: ignore[type-arg]
    other: TestServer | None = None

    def make_url(self, path: Any) -> URL:
        if self.other is not None and str(path).startswith(("/join", "/signal")):
            return self.other.make_url(path)
        return super().make_url(path)

    async def _ws_connect(self, path: Any, **kwargs: Any) -> Any:
        # The practitioner's own socket (this client's cookies) stays on process A.
        ws = await self._session.ws_connect(self._server.make_url(path), **kwargs)
        self._websockets.append(ws)
        return ws


# --- fixtures (import them into a test module to split its rooms) ------------------------

@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    if not await redis_up():
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not reachable at {REDIS_URL}")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    name = prefix()
    yield name
    await forget(name)


@pytest.fixture
def port_a() -> int:
    return free_port()


@pytest.fixture
def settings(settings, redis_prefix, port_a):  # type: ignore[no-untyped-def]
    return dataclasses.replace(settings, room_bus=REDIS_URL, room_bus_prefix=redis_prefix,
                               base_url=f"http://127.0.0.1:{port_a}")


@pytest.fixture
def aiohttp_client_cls() -> type[SplitClient]:
    return SplitClient


@pytest.fixture
async def client(app, settings, aiohttp_client, port_a):  # type: ignore[no-untyped-def]
    other = TestServer(create_app(settings))
    await other.start_server()
    test_client = await aiohttp_client(app, server_kwargs={"port": port_a})
    test_client.other = other
    yield test_client
    await test_client.close()
    await other.close()
