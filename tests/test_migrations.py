"""Migrations go from empty to head and back, and head matches the models exactly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from server.store import migrate
from server.store.models import Base


def _url_for_scratch(database_url: str, tmp_path) -> str:
    if database_url.startswith("sqlite"):
        return f"sqlite+aiosqlite:///{tmp_path}/scratch.db"
    return database_url.rsplit("/", 1)[0] + "/rapport_migrations_scratch"


async def _fresh(url: str) -> None:
    if url.startswith("postgresql"):
        base, _, name = url.rpartition("/")
        admin = create_async_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await admin.dispose()


def _head() -> str:
    from alembic.script import ScriptDirectory

    from server.store.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


# The newest revision, read from the migrations (one head: a branch would fail here).
HEAD = _head()


async def test_upgrade_downgrade_upgrade(database_url, tmp_path):
    url = _url_for_scratch(database_url, tmp_path)
    await _fresh(url)
    engine = create_async_engine(url)
    try:
        assert await migrate.current(engine) is None
        await migrate.upgrade(engine)
        assert await migrate.current(engine) == HEAD
        await migrate.downgrade(engine, "0001")
        assert await migrate.current(engine) == "0001"
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert set(Base.metadata.tables) <= names

        await migrate.downgrade(engine, "base")
        assert await migrate.current(engine) is None
        async with engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert not set(Base.metadata.tables) & names

        await migrate.upgrade(engine)
        assert await migrate.current(engine) == HEAD
    finally:
        await engine.dispose()


async def test_head_matches_models(database_url):
    """A model change without a migration fails here."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata))
    finally:
        await engine.dispose()
    assert diff == []
