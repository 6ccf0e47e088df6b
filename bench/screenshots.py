"""Screenshots of the client's journey and the call pages, so anyone can look at them without
running a call by hand.

Run: `python -m bench.screenshots [--out FOLDER] [--lang en] [--widths 360,1280]` (needs Debian's
Chromium). A fresh Rapport with the demo data (bench/live.py); for each width a client walks
the journey on a phone-shaped (360 px, touch) or desktop (1280 px) window — link page, wrong
date of birth, how we use your information, each screen of
questions, a failed answer, the camera and connection check, the waiting room — the
practitioner's call page with the client waiting, then both in the call (the practitioner at
the same width). One PNG per step,
named `<width>-<lang>-<nn>-<step>.png`, the whole page (not just the first screen), plus
`index.html` showing them all. Default folder: `screenshots/` (not kept in git).
"""

from __future__ import annotations

import argparse
import asyncio
import html
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.live import fresh_call, served, staff_sign_in
from server import demo, keys

WITHIN_MS = 30_000


class Shooter:
    """Numbered full-page screenshots into one folder."""

    def __init__(self, out: Path, width: int, lang: str) -> None:
        self.out, self.width, self.lang, self.count = out, width, lang, 0
        self.taken: list[tuple[str, str]] = []

    async def __call__(self, page: Any, step: str) -> None:
        self.count += 1
        await page.evaluate("() => document.fonts && document.fonts.ready")
        await asyncio.sleep(0.3)  # let the last paint settle
        name = f"{self.width}-{self.lang}-{self.count:02d}-{step}.png"
        await page.screenshot(path=str(self.out / name), full_page=True)
        self.taken.append((name, step))


async def step(page: Any, wanted: str) -> None:
    await page.wait_for_function(
        "w => document.getElementById('call')?.dataset.step === w", arg=wanted,
        timeout=WITHIN_MS)


async def walk(browser: Any, app: Any, base: str, out: Path, width: int,
               lang: str) -> list[tuple[str, str]]:
    async with app[keys.DB].begin() as db:
        result = await demo.load(db, app[keys.SETTINGS])
    fresh = await fresh_call(app, result)  # each walk its own appointment and people
    appointment_id = fresh.appointment_id
    email, password = result.logins["practitioner"]
    born = result.client_date_of_birth
    phone = width < 600
    shot = Shooter(out, width, lang)
    options: dict[str, Any] = dict(base_url=base, locale="en-GB", timezone_id="Europe/London",
                                   viewport={"width": width, "height": 740 if phone else 800},
                                   permissions=["camera", "microphone"])
    if phone:
        options.update(is_mobile=True, has_touch=True, device_scale_factor=1)
    # The practitioner at the same width: the 360 set shows their call page on a phone too.
    prac_context = await browser.new_context(**options)
    client_context = await browser.new_context(**options)
    for context in (prac_context, client_context):
        context.set_default_timeout(WITHIN_MS)
    try:
        prac = await prac_context.new_page()
        await staff_sign_in(app, prac, email, password)
        await prac.goto(f"/appointments/{appointment_id}/call")
        await prac.locator("#checklist-items fieldset.item").first.wait_for()
        for radio in await prac.locator("#checklist-items input[value=yes]").all():
            await radio.check()
        await prac.locator("#checklist button[type=submit]").click()
        await prac.wait_for_function("() => rapportCall.state().phase === 'in'")

        page = await client_context.new_page()
        await page.goto(f"{urlsplit(fresh.client_link).path}?lang={lang}")
        await shot(page, "link-page")
        await page.fill("#day", "1")
        await page.fill("#month", "1")
        await page.fill("#year", "1901")
        await page.locator("form button[type=submit]").click()
        await page.wait_for_load_state()
        await shot(page, "wrong-date-of-birth")
        await page.fill("#day", str(born.day))
        await page.fill("#month", str(born.month))
        await page.fill("#year", str(born.year))
        await page.locator("form button[type=submit]").click()
        await page.wait_for_url("**/join")
        await step(page, "privacy")
        await shot(page, "privacy")
        await page.locator("#journey-privacy-next").click()
        await page.locator("#checklist-items fieldset.item").first.wait_for()
        screens = await page.evaluate("() => rapportJourney.view().pages")
        for n in range(screens):
            visible = page.locator("#checklist-items fieldset.item:not(.later)")
            await shot(page, f"questions-{n + 1}")
            for i in range(await visible.count()):
                await visible.nth(i).locator("input[value=yes]").check()
            if n < screens - 1:
                await page.locator("#checklist button:not([type=submit]):not(.quiet)").click()
        # One "no" first, to see what a person is told, then the answers changed.
        last = page.locator("#checklist-items fieldset.item:not(.later)").last
        await page.evaluate("() => { document.getElementById('item-0-no').checked = true; }")
        await page.locator("#checklist button[type=submit]").click()
        await page.locator("#checklist-failed").wait_for()
        await shot(page, "not-safe")
        await page.locator("#checklist-again").click()
        await page.evaluate("() => { document.getElementById('item-0-yes').checked = true; }")
        # "Change my answers" starts the questions again from their first screen.
        submit = page.locator("#checklist button[type=submit]")
        for _ in range(screens):
            if await submit.is_visible():
                break
            await page.locator("#checklist button:not([type=submit]):not(.quiet)").click()
        await last.locator("input[value=yes]").check()
        await submit.click()
        await step(page, "check")
        await shot(page, "check-running")
        await page.locator("#precall-done").wait_for(timeout=WITHIN_MS)
        await shot(page, "check-result")
        await page.locator("#precall-done").click()
        await step(page, "wait")
        await shot(page, "waiting")
        await shot(prac, "practitioner-someone-waiting")
        admit = prac.locator("#lobby-list button").first
        if not await admit.is_visible():  # on a phone the waiting list is behind its button
            await prac.locator("#side-toggle").click()
            await admit.wait_for()
            await shot(prac, "practitioner-waiting-list")
        await admit.click()
        await step(page, "done")
        await page.wait_for_function("() => rapportCall.state().phase === 'in'")
        await asyncio.sleep(2)  # the video starts
        await shot(page, "in-the-call")
        await shot(prac, "practitioner-in-the-call")
        await page.reload()
        await page.wait_for_function("() => rapportCall.state().phase === 'in'")
        await asyncio.sleep(2)
        await shot(page, "reopened-in-the-call")
    finally:
        await client_context.close()
        await prac_context.close()
    return shot.taken


def index(out: Path, taken: list[tuple[str, str]]) -> None:
    cells = "\n".join(
        f'<figure><figcaption>{html.escape(name)}</figcaption>'
        f'<img src="{html.escape(name)}" alt="{html.escape(label)}" loading="lazy"></figure>'
        for name, label in taken)
    (out / "index.html").write_text(
        "<!doctype html><meta charset=utf-8><title>Rapport screenshots</title><style>"
        "body{font-family:system-ui;display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}"
        "figure{margin:0;max-width:400px}img{max-width:100%;border:1px solid #999}</style>"
        f"{cells}\n", encoding="utf-8")


async def run(out: Path, widths: list[int], langs: list[str]) -> list[tuple[str, str]]:
    taken: list[tuple[str, str]] = []
    async with served() as (app, base, browser):
        for lang in langs:
            for width in widths:
                taken += await walk(browser, app, base, out, width, lang)
    return taken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("screenshots"))
    parser.add_argument("--widths", default="360,1280")
    parser.add_argument("--lang", default="en", help="comma-separated: en,cy,ar")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    taken = asyncio.run(run(args.out, [int(w) for w in args.widths.split(",")],
                            args.lang.split(",")))
    index(args.out, taken)
    print(f"{len(taken)} screenshots in {args.out}/ (open {args.out / 'index.html'})")


if __name__ == "__main__":
    main()
