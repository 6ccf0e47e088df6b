"""The text chat (#14) in a three-way call in real browsers: both ways between all three,
names and times, markup shown as text, announced (role=log); nothing before admission (a typed
error); after "End session for everyone" the practitioner's end screen leads to the contact
record, which shows the chat, as does the subject access export."""

from __future__ import annotations

import json

import pytest

from server import keys
from tests.browser.calls import WITHIN, admit, joined, media_flows, phase, practitioner_page
from tests.browser.conftest import LiveServer, NewContext, sign_in
from tests.browser.test_inclusion_access import accessible
from tests.calls import remote_call
from tests.conftest import World

pytestmark = pytest.mark.browser

MARKUP = "Flat 2, <b>12 High St</b> <img src=x onerror=alert(1)>"


async def say(page, text: str) -> None:
    await page.get_by_label("Message", exact=True).fill(text)
    await page.locator("#chat-form").get_by_role("button", name="Send").click()


async def shows(page, text: str, who: str) -> None:
    entry = page.locator("#chat-log > div", has_text=text)
    await entry.wait_for(timeout=WITHIN * 1000)
    assert who in await entry.locator("strong").inner_text()
    assert await entry.locator("time").get_attribute("datetime")


async def test_chat_both_ways_in_a_three_way_call_and_on_the_record(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, live_server.app[keys.SETTINGS], alice, person,
                             interpreter=True)
    assert call.interpreter_token is not None
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    client = await joined(new_context, call.client_token)
    interpreter = await joined(new_context, call.interpreter_token, "interpreter",
                               name="Ines Interpreter")
    await phase(client, "waiting")

    # Sent before admission: refused with a typed error, and the chat is not shown.
    assert not await client.locator("#chat").is_visible()
    await client.evaluate("() => rapportCall.socket().send(JSON.stringify("
                          "{type: 'chat', text: 'let me in'}))")
    await client.wait_for_function(
        "() => rapportCall.state().errors.some(e => e.code === 'not_admitted' && e.ref === 'chat')",
        timeout=WITHIN * 1000)

    await admit(prac, person.full_name)
    await admit(prac, "Ines Interpreter")
    for page in (client, interpreter):
        await phase(page, "in")
    for page in (prac, client, interpreter):
        await media_flows(page, peers=2)

    await say(prac, "Can you spell your new address?")
    for page in (client, interpreter):
        await shows(page, "Can you spell your new address?", "Alice (probation officer)")
    await say(client, MARKUP)
    for page in (prac, interpreter):
        await shows(page, MARKUP, f"{person.full_name} (client)")
        # Shown as text: no element was made from the markup.
        assert await page.locator("#chat-log b, #chat-log img").count() == 0
    await shows(client, MARKUP, "You")
    await say(interpreter, "Dziękuję — thank you")
    for page in (prac, client):
        await shows(page, "Dziękuję — thank you", "Ines Interpreter (interpreter)")
    assert await prac.locator("#chat-log").get_attribute("role") == "log"
    await accessible(prac, "practitioner with the chat")
    await accessible(client, "client with the chat")

    # A page that comes back gets the chat so far.
    await interpreter.reload()
    await phase(interpreter, "in")
    await shows(interpreter, "Can you spell your new address?", "Alice (probation officer)")

    # The practitioner ends the session: their end screen leads to the contact record.
    await prac.locator("#end").click()
    await prac.locator("#confirm-yes").click()
    await phase(prac, "final")
    assert "contact record" in await prac.locator("#finished-text").inner_text()
    assert "Thank you" not in await prac.locator("#finished").inner_text()
    await prac.get_by_role("link", name="Open the contact record: outcome and notes").click()
    await prac.get_by_role("heading", name="Outcome and notes").wait_for()
    await prac.get_by_role("heading", name="Chat in the session").wait_for()
    record = prac.locator(".chat-record")
    for text in ("Can you spell your new address?", MARKUP, "Dziękuję — thank you"):
        await record.get_by_text(text, exact=True).wait_for()
    assert await record.locator("b, img").count() == 0
    await accessible(prac, "contact record with the chat")

    # The subject access export has the chat too.
    dpo = await (await new_context()).new_page()
    await sign_in(dpo, world.users["olive"], expect_path="/**")
    response = await dpo.context.request.get(
        f"/api/v1/clients/{person.id}/subject-access?reference=SAR-14")  # a download
    assert response.status == 200
    export = json.loads(await response.text())
    chats = export["tables"]["chat_message"]
    assert [c["body"] for c in chats] == [
        "Can you spell your new address?", MARKUP, "Dziękuję — thank you"], chats
