"""Lighthouse on the client's pages, each step of their journey, both call pages and the login
page: mobile emulation, simulated throttling (Lighthouse's defaults: a mid-range phone on a
slow 4G line), against Debian's Chromium.

Run: `python -m bench.lighthouse [--no-write] [--keep FOLDER]`. The `lighthouse` npm package is
installed into a scratch folder (`$RAPPORT_LIGHTHOUSE_DIR`, default
`~/.cache/rapport-lighthouse`) when it is absent; it runs with `CHROME_PATH=/usr/bin/chromium`,
headless, `--no-sandbox`, fake camera and microphone. A fresh Rapport with the demo data
(bench/live.py); each page is opened as its person would (the link's participant cookie, the
practitioner's session cookie, set over CDP in a Chromium that the benchmark starts and
Lighthouse attaches to with `--port` and `--disable-storage-reset`), the journey steps by
putting a person in that state first (server/joining/journey.py picks the step when the page
loads). Goal: performance ≥ 95,
accessibility 100, cumulative layout shift ≤ 0.1, no console errors. Writes the "Lighthouse"
section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select

from bench.live import CHROMIUM, fresh_call, served, staff_sign_in
from bench.report import write_section
from server import demo, keys
from server.clock import now
from server.joining import participants
from server.staff.tokens import token_hash
from server.store.models import (
    Appointment,
    ChecklistResponse,
    Invitation,
    PrecallCheck,
)

HEADING = "Lighthouse"
VERSION = "12"
FOLDER = Path(os.environ.get("RAPPORT_LIGHTHOUSE_DIR",
                             Path.home() / ".cache" / "rapport-lighthouse"))
FLAGS = ("--headless=new --no-sandbox --disable-gpu --use-fake-device-for-media-stream "
         "--use-fake-ui-for-media-stream --disable-background-networking "
         "--disable-component-update --disable-sync --no-first-run --disable-quic")
GOAL = {"performance": 95, "accessibility": 100}


def lighthouse() -> Path:
    """The Lighthouse CLI, installed into the scratch folder on first use."""
    cli = FOLDER / "node_modules" / "lighthouse" / "cli" / "index.js"
    if not cli.exists():
        FOLDER.mkdir(parents=True, exist_ok=True)
        npm = shutil.which("npm") or "npm"
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent",  # noqa: S603
                        f"lighthouse@{VERSION}"], cwd=FOLDER, check=True)
    return cli


@contextlib.asynccontextmanager
async def chromium_for(playwright: Any, base: str, cookie: str | None) -> AsyncIterator[int]:
    """Debian's Chromium, headless with remote debugging on a free port, this person's cookies
    set in its default profile over CDP; yields the port for `lighthouse --port`. Lighthouse
    opens its tab in that profile, so the document, its fetch calls and its WebSocket all carry
    the cookie (`--extra-headers` reaches the document only)."""
    port, folder = _free_port(), Path(tempfile.mkdtemp(prefix="rapport-lighthouse-profile-"))
    chrome = _launch(port, folder)
    try:
        for _ in range(300):
            try:
                browser = await playwright.chromium.connect_over_cdp(f"http://127.0.0.1:{port}")
                break
            except Exception:  # noqa: BLE001 - not listening yet
                await asyncio.sleep(0.1)
        else:
            raise RuntimeError("Chromium did not open its debugging port")
        if cookie:
            await browser.contexts[0].add_cookies([
                {"name": name, "value": value, "url": base}
                for name, _, value in (c.partition("=") for c in cookie.split("; "))])
        await browser.close()  # over CDP: disconnects, Chromium and its cookies stay
        yield port
    finally:
        chrome.terminate()
        try:
            chrome.wait(10)
        except subprocess.TimeoutExpired:
            chrome.kill()
        shutil.rmtree(folder, ignore_errors=True)


def _launch(port: int, folder: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([CHROMIUM, f"--remote-debugging-port={port}",  # noqa: S603
                             f"--user-data-dir={folder}", *FLAGS.split(), "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def audit(cli: Path, url: str, port: int, out: Path) -> dict[str, Any]:
    """One Lighthouse run against the Chromium on `port`; the scores and findings."""
    command = [shutil.which("node") or "node", str(cli), url, "--quiet", "--output=json",
               f"--output-path={out}",
               "--only-categories=performance,accessibility,best-practices",
               f"--port={port}", "--disable-storage-reset", "--max-wait-for-load=60000"]
    for attempt in range(3):  # a loaded machine sometimes loses the trace (NO_NAVSTART)
        done = subprocess.run(command, check=False,  # noqa: S603 (our own arguments)
                              env={**os.environ, "CHROME_PATH": CHROMIUM}, timeout=300)
        if done.returncode == 0:
            break
        if attempt == 2:
            return {"failed": f"lighthouse exited {done.returncode} three times"}
    report = json.loads(out.read_text(encoding="utf-8"))
    cats, audits = report["categories"], report["audits"]
    errors = audits.get("errors-in-console", {}).get("details", {}).get("items", [])
    failing = [a["id"] for c in ("accessibility",) for ref in cats[c]["auditRefs"]
               if (a := audits[ref["id"]]).get("score") == 0 and ref.get("weight", 0) > 0]
    return {
        "performance": round(100 * (cats["performance"]["score"] or 0)),
        "accessibility": round(100 * (cats["accessibility"]["score"] or 0)),
        "best-practices": round(100 * (cats["best-practices"]["score"] or 0)),
        "cls": audits["cumulative-layout-shift"]["numericValue"],
        "lcp": audits["largest-contentful-paint"]["numericValue"],
        "tbt": audits["total-blocking-time"]["numericValue"],
        "console": [str(e.get("description", ""))[:160] for e in errors],
        "a11y": failing,
    }


async def people(app: Any, result: demo.DemoResult) -> dict[str, tuple[str, str | None]]:
    """Each page to measure: (path, cookie), with the person put in the right state (the
    demo loaded once: loading it again keeps one appointment for today and drops these)."""
    pages: dict[str, tuple[str, str | None]] = {}
    cookie = participants.PARTICIPANT_COOKIE
    for state in ("link", "privacy", "check", "wait"):  # each its own appointment and links
        call = await fresh_call(app, result)
        token = urlsplit(call.client_link).path.rsplit("/", 1)[-1]
        async with app[keys.DB].begin() as db:
            appointment = await db.get(Appointment, call.appointment_id)
            invitation = await db.scalar(select(Invitation).where(
                Invitation.token_hash == token_hash(token)))
            assert appointment is not None and invitation is not None
            if state == "link":  # not used up: the date of birth is asked
                pages["client: link page (date of birth)"] = (f"/join/{token}", None)
                continue
            person, secret = await participants.claim(db, invitation, appointment, "Casey")
            if state in ("check", "wait"):
                db.add(ChecklistResponse(
                    participant_id=person.id, appointment_id=appointment.id, role="client",
                    answers={}, complete=True, passed=True, policy_version="bench",
                    answered_at=now()))
            if state == "wait":
                db.add(PrecallCheck(appointment_id=appointment.id, participant_id=person.id,
                                    verdict="good", camera=True, microphone=True,
                                    created_at=now()))
            if state == "privacy":
                row = await db.scalar(select(Invitation).where(Invitation.token_hash == token_hash(
                    urlsplit(call.interpreter_link).path.rsplit("/", 1)[-1])))
                assert row is not None
                _other, other_secret = await participants.claim(db, row, appointment, "Ines")
                pages["interpreter: call page, questions step"] = (
                    "/join", f"{cookie}={other_secret}")
        labels = {"privacy": "client: call page, how we use your information step",
                  "check": "client: call page, camera and connection check step",
                  "wait": "client: call page, waiting room (reopened)"}
        pages[labels[state]] = ("/join", f"{cookie}={secret}")
    return pages


async def practitioner(app: Any, base: str, browser: Any, email: str, password: str
                       ) -> tuple[str, str]:
    async with app[keys.DB]() as db:
        appointment_id = await db.scalar(select(func.max(Appointment.id)))
    context = await browser.new_context(base_url=base)
    page = await context.new_page()
    await staff_sign_in(app, page, email, password)
    jar = "; ".join(f"{c['name']}={c['value']}" for c in await context.cookies())
    await context.close()
    return f"/appointments/{appointment_id}/call", jar


async def run(keep: Path | None) -> dict[str, dict[str, Any]]:
    cli = lighthouse()
    results: dict[str, dict[str, Any]] = {}
    folder = keep or Path(tempfile.mkdtemp(prefix="rapport-lighthouse-"))
    folder.mkdir(parents=True, exist_ok=True)
    async with served() as (app, base, browser):
        async with app[keys.DB].begin() as db:
            loaded = await demo.load(db, app[keys.SETTINGS])
        pages = await people(app, loaded)
        logins = loaded.logins
        pages["practitioner: call page"] = await practitioner(app, base, browser,
                                                              *logins["practitioner"])
        pages["login page"] = ("/login", None)
        from playwright.async_api import async_playwright

        async with async_playwright() as playwright:
            for n, (name, (path, cookie)) in enumerate(pages.items()):
                print(f"lighthouse: {name} ({path})", flush=True)
                out = folder / f"{n:02d}.json"
                async with chromium_for(playwright, base, cookie) as port:
                    results[name] = await asyncio.to_thread(audit, cli, base + path, port, out)
    return results


def table(results: dict[str, dict[str, Any]]) -> str:
    rows = ["| page | performance | accessibility | best practices | CLS | LCP | TBT | "
            "console errors | goal |", "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        if "failed" in r:
            rows.append(f"| {name} | {r['failed']} | | | | | | | not measured |")
            continue
        met = (r["performance"] >= GOAL["performance"] and r["accessibility"]
               >= GOAL["accessibility"] and r["cls"] <= 0.1 and not r["console"])
        rows.append(f"| {name} | {r['performance']} | {r['accessibility']} | "
                    f"{r['best-practices']} | {r['cls']:.3f} | {r['lcp'] / 1000:.1f} s | "
                    f"{r['tbt']:.0f} ms | {len(r['console'])} | {'met' if met else 'NOT MET'} |")
    return "\n".join(rows)


def findings(results: dict[str, dict[str, Any]]) -> str:
    lines = []
    for name, r in results.items():
        if "failed" in r:
            continue
        for message in r["console"]:
            lines.append(f"- {name}: console: `{message}`")
        for audit_id in r["a11y"]:
            lines.append(f"- {name}: accessibility audit failed: `{audit_id}`")
    return "\n".join(lines) or "- none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-write", action="store_true", help="do not update the doc")
    parser.add_argument("--keep", type=Path, help="keep the JSON reports in this folder")
    args = parser.parse_args()
    results = asyncio.run(run(args.keep))
    text = table(results)
    print(text)
    print(findings(results))
    if args.no_write:
        return
    write_section(HEADING, f"""`python -m bench.lighthouse` runs Lighthouse {VERSION} (the npm
package, installed into a scratch folder when absent) against Debian's Chromium, headless,
with Lighthouse's mobile emulation and simulated throttling, on each client page and journey
step, the practitioner's
call page and the login page (docs in the module). Goal: performance ≥ 95, accessibility 100,
CLS ≤ 0.1, no console errors.

{text}

Findings:
{findings(results)}

Measured {datetime.now(UTC):%Y-%m-%d} on CPython {platform.python_version()},
{platform.machine()}, SQLite, loopback. Simulated throttling computes the timings from the
page's own trace, but the trace was taken on a 2-core machine shared with other work, so the
performance scores are lower bounds.
""")


if __name__ == "__main__":
    main()
