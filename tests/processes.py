"""Real Rapport OS processes for tests: `rapport serve` started with settings of the test's own."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import aiohttp
from yarl import URL

ROOT = Path(__file__).resolve().parent.parent


class Process:
    """One `python -m server.cli serve` on 127.0.0.1:port, its log in a file."""

    def __init__(self, port: int, env: dict[str, str], log: Path) -> None:
        self.port = port
        self.env = {**os.environ, **env, "RAPPORT_HOST": "127.0.0.1",
                    "RAPPORT_PORT": str(port)}
        self.log_path = log
        self.popen: subprocess.Popen[bytes] | None = None
        self.log: IO[bytes] | None = None

    def start(self, args: list[str] | None = None) -> None:
        self.log = self.log_path.open("ab")
        self.popen = subprocess.Popen([sys.executable, "-m", "server.cli", *(args or ["serve"])],
                                      cwd=ROOT, env=self.env, stdout=self.log,
                                      stderr=subprocess.STDOUT)

    async def ready(self, within: float = 300.0) -> None:
        """Wait until /readyz answers 200 (a busy machine starts slowly)."""
        deadline = asyncio.get_running_loop().time() + within
        async with aiohttp.ClientSession() as session:
            while asyncio.get_running_loop().time() < deadline:
                assert self.popen is not None and self.popen.poll() is None, self.tail()
                try:
                    async with session.get(f"http://127.0.0.1:{self.port}/readyz") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"process on {self.port} not ready: {self.tail()}")

    def kill(self, how: int = signal.SIGKILL) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(how)

    async def wait(self, within: float = 60.0) -> int:
        assert self.popen is not None
        deadline = asyncio.get_running_loop().time() + within
        while self.popen.poll() is None:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"process on {self.port} did not stop: {self.tail()}")
            await asyncio.sleep(0.1)
        return self.popen.returncode

    def stop(self) -> None:
        """Stop it whatever state it is in (SIGTERM first: a supervisor stops its workers)."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(60)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(30)
        if self.log is not None:
            self.log.close()

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


class Site:
    """What tests/calls.py and tests/conftest.py helpers need of a test client, for a real
    process: its URLs, and one browser session (cookies) talking to it."""

    def __init__(self, port: int, session: aiohttp.ClientSession, db: Any = None) -> None:
        self.port = port
        self.session = session
        self.db = db  # the shared database, for helpers that look at it (second factor)

    def make_url(self, path: str) -> URL:
        return URL(f"http://127.0.0.1:{self.port}{path}")

    def get(self, path: str, **kw: Any) -> Any:
        return self.session.get(self.make_url(path), **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.session.post(self.make_url(path), **kw)

    def ws_connect(self, path: str, **kw: Any) -> Any:
        return self.session.ws_connect(self.make_url(path), **kw)
