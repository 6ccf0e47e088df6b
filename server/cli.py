"""The `rapport` command: parse arguments, build settings, call the app factory."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import os
import sys
from collections.abc import Sequence

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from server.settings import Settings, SettingsError, load_settings

DESCRIPTION = """\
Rapport: secure video supervision for probation.

Settings come from RAPPORT_* environment variables (e.g. RAPPORT_DATABASE_URL, RAPPORT_PORT,
RAPPORT_BASE_URL) or a TOML file given with --config. Start with `rapport demo` to try it.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rapport", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="a TOML settings file (environment variables win)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the web server (migrates a brand-new database "
                           "first)")
    serve.add_argument("--workers", type=int, default=1, metavar="N",
                       help="run N processes on the same port (SO_REUSEPORT); N > 1 needs "
                            "RAPPORT_ROOM_BUS (default: 1)")
    migrate = sub.add_parser("migrate", help="bring the database schema up to date")
    migrate.add_argument("--to", default="head", help="target revision (default: head)")
    migrate.add_argument("--down", metavar="REV", help="migrate down to REV (e.g. base)")
    user = sub.add_parser("create-user", help="create a staff account")
    user.add_argument("--email", required=True)
    user.add_argument("--name", required=True)
    user.add_argument("--role", action="append", required=True, dest="roles",
                      choices=["practitioner", "supervisor", "admin", "dpo"],
                      help="repeat for several roles")
    user.add_argument("--organisation", default="Rapport",
                      help="organisation name (created if new; default: Rapport)")
    user.add_argument("--team", help="team name within the organisation (created if new)")
    user.add_argument("--password-stdin", action="store_true",
                      help="read the password from standard input instead of prompting")
    audit = sub.add_parser("audit", help="the tamper-evident audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = audit_sub.add_parser("verify",
                                  help="check the hash chain; names the first broken entry")
    verify.add_argument("--anchor", type=_anchor, metavar="SEQ:HASH",
                        help="a head printed by an earlier verify and kept elsewhere: the log "
                        "must still hold that entry unchanged (detects a cut-and-rewrite)")
    retention = sub.add_parser("retention", help="delete data past its retention period")
    retention.add_argument("--dry-run", action="store_true",
                           help="list what would be deleted, delete nothing")
    demo = sub.add_parser("demo", help="load demo data, print logins and links, and serve")
    demo.add_argument("--no-serve", action="store_true", help="load and print, then exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(config_file=args.config)
    except SettingsError as exc:
        print(f"rapport: bad setting: {exc}", file=sys.stderr)
        return 2
    from server.logs import configure

    configure(settings.log_level, settings.log_json)
    commands = {"serve": _serve, "migrate": _migrate, "create-user": _create_user,
                "demo": _demo, "audit": _audit, "retention": _retention}
    try:
        return commands[args.command](settings, args)
    except KeyboardInterrupt:
        return 130


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from server import workers

    problem = workers.check(settings, args.workers)
    if problem:
        print(f"rapport: {problem}", file=sys.stderr)
        return 2
    if args.workers > 1:
        if settings.migrate_on_start:
            asyncio.run(_migrate_if_empty(settings))
        print(f"Rapport is starting {args.workers} workers on {settings.base_url}", flush=True)
        config = ["--config", args.config] if args.config else []
        return workers.supervise(args.workers, [*config, "serve"])
    if settings.realtime_scheduling and (problem := workers.prioritise()):
        print(f"rapport: {problem}", file=sys.stderr)
        return 2
    from server.app import create_app

    # No aiohttp access log: Rapport logs each request itself, with link tokens removed.
    # A worker of `--workers N` shares its port with the others.
    web.run_app(create_app(settings), host=settings.host, port=settings.port, access_log=None,
                reuse_port=os.environ.get("RAPPORT_WORKER") == "1",
                loop=workers.event_loop(),  # type: ignore[arg-type]
                print=lambda _msg: print(f"Rapport is running on {settings.base_url} "
                                         "(Ctrl+C to stop)", flush=True))
    return 0


async def _migrate_if_empty(settings: Settings) -> None:
    from server.store.db import database_is_empty, make_engine
    from server.store.migrate import upgrade

    engine = make_engine(settings)
    try:
        if await database_is_empty(engine):
            await upgrade(engine)
    finally:
        await engine.dispose()


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    from server.store import migrate
    from server.store.db import make_engine

    async def run() -> str | None:
        engine = make_engine(settings)
        try:
            if args.down:
                await migrate.downgrade(engine, args.down)
            else:
                await migrate.upgrade(engine, args.to)
            return await migrate.current(engine)
        finally:
            await engine.dispose()

    print(f"database at revision: {asyncio.run(run()) or 'base (empty)'}")
    return 0


def _create_user(settings: Settings, args: argparse.Namespace) -> int:
    from server.errors import AppError
    from server.staff import accounts
    from server.staff.schemas import UserIn
    from server.store import migrate
    from server.store.db import make_engine
    from server.store.models import Organisation, Team

    password = (sys.stdin.readline().rstrip("\n") if args.password_stdin
                else getpass.getpass("Password for the new account: "))

    async def run() -> int:
        engine = make_engine(settings)
        try:
            await migrate.upgrade(engine)
            async with async_sessionmaker(engine, expire_on_commit=False).begin() as db:
                org = await db.scalar(select(Organisation).where(
                    Organisation.name == args.organisation))
                if org is None:
                    org = Organisation(name=args.organisation)
                    db.add(org)
                    await db.flush()
                team_id = None
                if args.team:
                    team = await db.scalar(select(Team).where(
                        Team.organisation_id == org.id, Team.name == args.team))
                    if team is None:
                        team = Team(organisation_id=org.id, name=args.team)
                        db.add(team)
                        await db.flush()
                    team_id = team.id
                from server.parsing import validate

                data = validate(UserIn, {"email": args.email, "name": args.name,
                                         "roles": args.roles, "team_id": team_id,
                                         "password": password})
                user = await accounts.create_user(db, None, None, org.id, data)
                print(f"created {user.email} ({', '.join(sorted(user.roles))})")
            return 0
        except AppError as exc:
            print(f"rapport: {exc}", file=sys.stderr)
            return 1
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from media.sealed import new_key_entry
    from server import demo
    from server.store import migrate
    from server.store.db import make_engine

    if not settings.recording_key_id:
        # So recording can be tried: a key that lives only in this process, so its
        # recordings cannot be opened once the demo stops (docs/recording.md).
        settings = dataclasses.replace(settings, recording_keys=(
            *settings.recording_keys, new_key_entry("demo")), recording_key_id="demo")

    async def run() -> demo.DemoResult:
        engine = make_engine(settings)
        try:
            await migrate.upgrade(engine)
            async with async_sessionmaker(engine, expire_on_commit=False).begin() as db:
                return await demo.load(db, settings)
        finally:
            await engine.dispose()

    result = asyncio.run(run())
    print(f"Rapport demo on {settings.base_url}/login")
    for label, (email, password) in result.logins.items():
        print(f"{label} login: {email} / {password}")
    print(f"client link: {result.client_link}")
    print(f"client date of birth: {result.client_date_of_birth.isoformat()}")
    print(f"interpreter link: {result.interpreter_link}", flush=True)
    if args.no_serve or os.environ.get("RAPPORT_DEMO_NO_SERVE"):
        return 0
    return _serve(settings, args)


def _anchor(text: str) -> tuple[int, str]:
    seq, _, digest = text.partition(":")
    if not (seq.isdigit() and len(digest) == 64
            and all(c in "0123456789abcdef" for c in digest)):
        raise argparse.ArgumentTypeError(
            "give the anchor as SEQ:HASH, as `rapport audit verify` prints it "
            "(e.g. 120:9f2c… with the 64-character hash)")
    return int(seq), digest


def _audit(settings: Settings, args: argparse.Namespace) -> int:
    """`rapport audit verify`: 0 and a count when intact, 1 naming the first broken entry."""
    from server.store import audit
    from server.store.db import make_engine

    async def run() -> int:
        from sqlalchemy.exc import DBAPIError

        engine = make_engine(settings)
        try:
            async with async_sessionmaker(engine, expire_on_commit=False).begin() as db:
                verifier, broken = await audit.verify(db, args.anchor)
        except DBAPIError as exc:
            print(f"rapport: cannot read the audit log ({exc.orig}); is the database "
                  "migrated? Run `rapport migrate`.", file=sys.stderr)
            return 2
        finally:
            await engine.dispose()
        if broken is not None:
            where = f"seq {broken.seq}" + (f" (id {broken.entry_id})" if broken.entry_id else "")
            print(f"audit log BROKEN at {where}: {broken.kind}: {broken.message}",
                  file=sys.stderr)
            return 1
        span = f"seq {verifier.first_seq} to {verifier.last_seq}" if verifier.count else "empty"
        print(f"audit log intact: {verifier.count} entries ({span}); "
              f"head hash {verifier.last_hash}")
        if verifier.count:
            print(f"keep this anchor elsewhere and pass it next time: --anchor "
                  f"{verifier.last_seq}:{verifier.last_hash}")
        return 0

    return asyncio.run(run())


def _retention(settings: Settings, args: argparse.Namespace) -> int:
    """`rapport retention [--dry-run]`: apply (or list) the retention schedule once."""
    from server.privacy import retention
    from server.store.db import make_engine

    async def run() -> list[retention.Swept]:
        engine = make_engine(settings)
        try:
            maker = async_sessionmaker(engine, expire_on_commit=False)
            return await retention.sweep(maker, settings, dry_run=args.dry_run)
        finally:
            await engine.dispose()

    verb = "would delete" if args.dry_run else "deleted"
    for swept in asyncio.run(run()):
        print(f"{swept.kind}: {verb} {swept.count} (older than {swept.cutoff.isoformat()})")
        for item in swept.items:
            print(f"  {item}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
