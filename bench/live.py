"""A fresh Rapport (its own temporary SQLite, migrated) on a free loopback port, and Debian's
headless Chromium to drive it: what the browser benchmarks share."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import create_async_engine

from server.app import create_app
from server.settings import Settings
from server.store import migrate

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
        "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


@asynccontextmanager
async def served(**settings: Any) -> AsyncIterator[tuple[web.Application, str, Any]]:
    """The app, its base address and a launched Chromium; all closed on leaving. `settings`:
    more `Settings` fields (a recording key, say); recordings go to the temporary folder."""
    from playwright.async_api import async_playwright

    folder = Path(tempfile.mkdtemp(prefix="rapport-bench-"))
    url = f"sqlite+aiosqlite:///{folder}/bench.db"
    engine = create_async_engine(url)
    await migrate.upgrade(engine)
    await engine.dispose()
    app = create_app(Settings(database_url=url, migrate_on_start=False, log_json=False,
                              base_url="http://127.0.0.1:8080",
                              recordings_dir=str(folder / "recordings"), **settings))
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                       args=ARGS)
            try:
                yield app, f"http://{host}:{port}", browser
            finally:
                await browser.close()
    finally:
        await runner.cleanup()
