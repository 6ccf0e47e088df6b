"""Helpers for the audit tests: raw SQL that goes round the append-only triggers.

This is what someone with direct database access could do; the hash chain must catch it.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from server.clock import now
from server.store import audit
from server.store.models import AuditEvent

MIGRATION = importlib.import_module("server.store.migrations.versions.0005_audit_chain")


async def tamper(url: str, *statements: str, **params: Any) -> None:
    """Run raw SQL on audit_event with its triggers out of the way (restored after)."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            if url.startswith("postgresql"):
                await conn.execute(text("SET LOCAL session_replication_role = replica"))
            else:
                for drop in MIGRATION.DROP["sqlite"]:
                    await conn.execute(text(drop))
            for statement in statements:
                await conn.execute(text(statement), params)
            if not url.startswith("postgresql"):
                for create in MIGRATION.SQLITE_TRIGGERS:
                    await conn.execute(text(create))
    finally:
        await engine.dispose()


async def write_entries(db: async_sessionmaker[AsyncSession], count: int,
                        client_id: int | None = None) -> None:
    """`count` audit entries, one transaction each."""
    for n in range(count):
        async with db.begin() as s:
            audit.record(s, None, "client.view", "client", n, client_id=client_id, n=n)


def rapport_cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real `rapport` command against the test database."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")}
    environ.update(RAPPORT_DATABASE_URL=url, RAPPORT_LOG_JSON="false")
    return subprocess.run([sys.executable, "-m", "server.cli", *args], capture_output=True,
                          text=True, env=environ, timeout=90, check=False)


def an_event(**values: Any) -> AuditEvent:
    return AuditEvent(at=now(), action="x", target_type="y", detail={}, **values)
