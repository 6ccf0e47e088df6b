"""Shared fixtures: a real database (SQLite or PostgreSQL), the app, seeded people, sign-in.

The database comes from RAPPORT_TEST_DATABASE_URL (default: a SQLite file in a temporary
folder). It is migrated once per run with the real Alembic migrations; every test then starts
from empty tables, so tests never see each other's rows.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyotp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from media.sealed import new_key_entry
from server.app import create_app
from server.clock import now
from server.settings import Settings
from server.staff.passwords import hash_password_sync
from server.store import migrate
from server.store.models import (
    Base,
    Client,
    Organisation,
    Role,
    RoshLevel,
    Team,
    TotpFactor,
    User,
)

PASSWORD = "correct-horse-battery-staple-42"
_HASH = hash_password_sync(PASSWORD)  # hashed once: argon2 is deliberately slow
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
# Every seeded person has this authenticator app enrolled (the second factor is required).
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
TOTP_SECRET_ON_PAGE = re.compile(r'id="totp-secret">([A-Z2-7]+)<')


def _database_url() -> str:
    url = os.environ.get("RAPPORT_TEST_DATABASE_URL")
    if url:
        return url
    folder = Path(tempfile.mkdtemp(prefix="rapport-test-"))
    return f"sqlite+aiosqlite:///{folder}/test.db"


async def _prepare(url: str) -> None:
    """Start from an empty schema and run the real migrations up to head."""
    if url.startswith("postgresql"):
        base, _, name = url.rpartition("/")
        admin = create_async_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            exists = await conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                       {"n": name})
            if not exists:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await admin.dispose()
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    else:
        engine = create_async_engine(url)
    await migrate.upgrade(engine)
    await engine.dispose()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    url = _database_url()
    asyncio.run(_prepare(url))
    yield url


async def empty_tables(url: str) -> None:
    engine = create_async_engine(url)
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    async with engine.begin() as conn:
        # The audit log is append-only in the database: wiping it between tests takes the
        # same permit the retention sweeper uses (docs/security.md).
        await conn.execute(text("INSERT INTO audit_prune_permit (upto_seq) VALUES (:m)"),
                           {"m": 2**62})
        await conn.execute(text("DELETE FROM audit_event"))
        if url.startswith("postgresql"):
            await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                await conn.execute(text(f"DELETE FROM {name}"))
    await engine.dispose()


# One recording key for the whole run (recordings are sealed with it; see docs/recording.md).
RECORDING_KEY = new_key_entry("test")


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, migrate_on_start=False, log_json=False,
                    base_url="http://127.0.0.1:8080",
                    recordings_dir=str(tmp_path / "recordings"),
                    recording_keys=(RECORDING_KEY,), recording_key_id="test")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[web.Application]:
    await empty_tables(settings.database_url)
    yield create_app(settings)


@pytest.fixture
async def client(app: web.Application, aiohttp_client: Any) -> TestClient:
    test_client: TestClient = await aiohttp_client(app)
    return test_client


@pytest.fixture
def db(app: web.Application, client: TestClient) -> async_sessionmaker[AsyncSession]:
    """The app's own session factory (available once the client has started the app)."""
    from server import keys

    return app[keys.DB]


@dataclass
class World:
    """The seeded organisation: people by short name, clients by short name."""

    org: Organisation
    team: Team
    other_team: Team
    users: dict[str, User] = field(default_factory=dict)
    clients: dict[str, Client] = field(default_factory=dict)


async def make_user(db: AsyncSession, org: Organisation, team: Team | None, name: str,
                    roles: set[Role], active: bool = True) -> User:
    user = User(organisation_id=org.id, team_id=team.id if team else None,
                email=f"{name}@example.test", name=name.title(), password_hash=_HASH,
                active=active, created_at=now())
    user.roles = frozenset(roles)
    user.second_factor = True
    db.add(user)
    await db.flush()
    db.add(TotpFactor(user_id=user.id, secret=TOTP_SECRET, created_at=now(), confirmed_at=now()))
    return user


async def make_client(db: AsyncSession, org: Organisation, practitioner: User, crn: str,
                      **extra: Any) -> Client:
    values: dict[str, Any] = dict(given_name="Client", family_name=crn,
                                  date_of_birth=date(1990, 1, 1), rosh_level=RoshLevel.LOW)
    values.update(extra)
    client = Client(organisation_id=org.id, practitioner_id=practitioner.id, crn=crn,
                    created_at=now(), **values)
    db.add(client)
    await db.flush()
    return client


@pytest.fixture
async def world(db: async_sessionmaker[AsyncSession]) -> World:
    """Two teams; practitioners alice and bob (team A), carol (team B); supervisor sue
    (team A); admin adam; dana who is both admin and practitioner; olive the data protection
    officer; each practitioner with clients."""
    async with db.begin() as s:
        org = Organisation(name="Test Probation")
        s.add(org)
        await s.flush()
        team, other = Team(organisation_id=org.id, name="A"), Team(organisation_id=org.id, name="B")
        s.add_all([team, other])
        await s.flush()
        w = World(org, team, other)
        for name, t, roles in [
            ("alice", team, {Role.PRACTITIONER}), ("bob", team, {Role.PRACTITIONER}),
            ("carol", other, {Role.PRACTITIONER}), ("sue", team, {Role.SUPERVISOR}),
            ("adam", None, {Role.ADMIN}), ("dana", team, {Role.ADMIN, Role.PRACTITIONER}),
            ("olive", None, {Role.DPO}),
        ]:
            w.users[name] = await make_user(s, org, t, name, roles)
        for short, owner in [("a1", "alice"), ("a2", "alice"), ("b1", "bob"), ("c1", "carol"),
                             ("d1", "dana")]:
            w.clients[short] = await make_client(s, org, w.users[owner], f"CRN{short.upper()}")
    return w


class Staff:
    """A signed-in browser-like session: keeps cookies and sends the CSRF token."""

    def __init__(self, client: TestClient, csrf: str) -> None:
        self.client = client
        self.csrf = csrf

    async def get(self, path: str, **kw: Any) -> Any:
        return await self.client.get(path, allow_redirects=False, **kw)

    async def post_form(self, path: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        form = dict(data or {}, csrf_token=self.csrf)
        return await self.client.post(path, data=form, allow_redirects=False, **kw)

    async def post_json(self, path: str, body: Any = None, **kw: Any) -> Any:
        headers = {"X-CSRF-Token": self.csrf, **kw.pop("headers", {})}
        return await self.client.post(path, json=body, headers=headers, **kw)


async def page_csrf(client: TestClient, path: str) -> str:
    response = await client.get(path, allow_redirects=False)
    match = CSRF_FIELD.search(await response.text())
    assert match, f"no CSRF field on {path}"
    return match.group(1)


async def forget_last_code(maker: async_sessionmaker[AsyncSession], email: str) -> str | None:
    """Tests sign one person in many times within 30 seconds, but an authenticator code is
    good once only: forget the last step used (the code itself is still checked). Returns
    the person's secret, if they have an app enrolled."""
    async with maker.begin() as s:
        user_id = await s.scalar(select(User.id).where(User.email == email.strip().lower()))
        secret = await s.scalar(select(TotpFactor.secret).where(TotpFactor.user_id == user_id))
        await s.execute(update(TotpFactor).where(TotpFactor.user_id == user_id)
                        .values(last_counter=None))
    return secret


async def second_factor(client: TestClient, email: str, next_: str = "/account") -> None:
    """Prove the second factor of a session past its password (enrolling an app the first
    time, as a new account does)."""
    from server import keys

    # A test client has the app; a real process's stand-in (tests/processes.py) its database.
    maker = client.app[keys.DB] if hasattr(client, "app") else getattr(client, "db", None)
    if maker is not None:
        await forget_last_code(maker, email)
    page = await client.get(f"/login/factor?next={next_}", allow_redirects=False)
    text = await page.text()
    csrf = CSRF_FIELD.search(text)
    assert page.status == 200 and csrf, (page.status, text[:300])
    enrol = TOTP_SECRET_ON_PAGE.search(text)
    secret = enrol.group(1) if enrol else TOTP_SECRET
    response = await client.post("/login/factor/enrol" if enrol else "/login/factor",
                                 data={"code": pyotp.TOTP(secret).now(), "next": next_,
                                       "csrf_token": csrf.group(1)}, allow_redirects=False)
    assert response.status == (200 if enrol else 303), await response.text()


async def sign_in(client: TestClient, user: User | str, password: str = PASSWORD) -> Staff:
    """Sign in through the real login form and the second factor; returns a Staff helper."""
    email = user if isinstance(user, str) else user.email
    client.session.cookie_jar.clear()
    token = await page_csrf(client, "/login")
    response = await client.post("/login", data={"email": email, "password": password,
                                                 "csrf_token": token, "next": "/account"},
                                 allow_redirects=False)
    assert response.status == 303, await response.text()
    await second_factor(client, email)
    return Staff(client, await page_csrf(client, "/account"))


@pytest.fixture
def login(client: TestClient) -> Any:
    async def _login(user: User | str, password: str = PASSWORD) -> Staff:
        return await sign_in(client, user, password)

    return _login


def iso(value: datetime) -> str:
    return value.isoformat()
