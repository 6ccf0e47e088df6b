"""The waiting-room alert and the running-late note (#14), in real browsers: the
practitioner's tab title counts who is waiting, a sound plays (and stays off once switched
off, remembered), a desktop notification is offered and shown; "running late, about 10
minutes" reaches the waiting client at once and an interpreter who arrives later, each in
their own language; axe-core finds nothing on these states."""

from __future__ import annotations

from typing import Any

import pytest

from server import keys
from tests.browser.calls import WITHIN, answer_checklist, joined, phase, safe_answers
from tests.browser.conftest import LiveServer, NewContext, sign_in
from tests.browser.test_inclusion_access import accessible
from tests.calls import remote_call
from tests.conftest import World

pytestmark = pytest.mark.browser

# The browser's notifications, recorded: headless Chromium has no desktop to show them on.
# The window is treated as not focused (the practitioner is in another program).
FAKE_NOTIFICATIONS = """
window.__asked = 0; window.__notes = [];
class FakeNotification {
  constructor(title, options) { window.__notes.push([title, options.body]); }
  static requestPermission() { window.__asked += 1; FakeNotification.permission = "granted";
                               return Promise.resolve("granted"); }
}
FakeNotification.permission = "default";
window.Notification = FakeNotification;
document.hasFocus = () => false;
"""


async def until(page: Any, script: str, arg: Any = None) -> None:
    await page.wait_for_function(script, arg=arg, timeout=WITHIN * 1000)


async def test_arrivals_are_announced_and_running_late_is_told(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, live_server.app[keys.SETTINGS], alice, person,
                             interpreter=True)
    assert call.interpreter_token is not None
    context = await new_context()
    await context.add_init_script(FAKE_NOTIFICATIONS)
    prac = await context.new_page()
    await sign_in(prac, alice)
    await prac.goto(f"/appointments/{call.appointment.id}/call")
    await answer_checklist(prac, safe_answers("practitioner_premises"))
    await phase(prac, "in")
    assert not (await prac.title()).startswith("(")

    # The practitioner accepts desktop notifications.
    await prac.get_by_role("button", name="Also tell me with a desktop notification").click()
    await prac.get_by_text("Desktop notifications are on.").wait_for()
    assert await prac.evaluate("() => window.__asked") == 1
    await accessible(prac, "practitioner, alerts set up")

    client = await joined(new_context, call.client_token)
    await phase(client, "waiting")
    await until(prac, "() => document.title.startsWith('(1) waiting')")
    await until(prac, "() => window.__notes.length === 1")
    title, body = (await prac.evaluate("() => window.__notes"))[0]
    assert title == "Someone is waiting to join" and person.full_name in body
    await until(prac, "() => rapportAlert.view().sounds === 1")
    assert await prac.locator("#side-count").inner_text() == "1"

    # Running late: one tap; the waiting client sees it at once, in words.
    await prac.get_by_role("button", name="About 10 minutes").click()
    await prac.get_by_role("status").filter(
        has_text="Told the people waiting: about 10 minutes.").wait_for()
    await client.locator("#late-note").filter(
        has_text="Your probation officer is running late: about 10 minutes.").wait_for()
    await accessible(client, "client waiting, running late")

    # The sound switched off stays off (remembered in this browser); the title counts two.
    await prac.get_by_label("Play a sound when someone arrives").uncheck()
    assert await prac.evaluate("() => localStorage.getItem('rapport.arrivalSound')") == "off"
    interpreter = await joined(new_context, call.interpreter_token, "interpreter",
                               name="Ines Interpreter")
    await phase(interpreter, "waiting")
    await until(prac, "() => document.title.startsWith('(2) waiting')")
    await until(prac, "() => window.__notes.length === 2")
    assert (await prac.evaluate("() => rapportAlert.view()"))["sounds"] == 1
    # The interpreter arrived after the note and still sees it; reopened in Arabic, in Arabic.
    await interpreter.locator("#late-note").filter(has_text="about 10 minutes").wait_for()
    await interpreter.goto(interpreter.url.split("?")[0] + "?lang=ar")
    await phase(interpreter, "waiting")
    await interpreter.locator("#late-note").filter(
        has_text="ضابط المراقبة الخاص بك متأخر: حوالي 10 دقيقة").wait_for()
    await accessible(interpreter, "interpreter waiting in Arabic, running late")

    await prac.reload()
    await phase(prac, "in")
    assert not await prac.get_by_label("Play a sound when someone arrives").is_checked()

    # Letting people in clears the count from the title.
    await prac.get_by_role("button", name=f"Let in: {person.full_name}").click()
    await prac.get_by_role("button", name="Let in: Ines Interpreter").click()
    await until(prac, "() => !document.title.startsWith('(')")
