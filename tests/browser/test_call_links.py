"""Links that match real life (#14): the interpreter's link remade from the call page in the
middle of a call (offered even after the client's record stopped saying an interpreter is
needed: one was invited), the old link stops working and the new one gets in; a locked link
is reported with the person's name, never "null"."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from server import keys
from server.store.models import Client
from tests.browser.calls import (
    WITHIN,
    admit,
    joined,
    media_flows,
    open_link,
    phase,
    practitioner_page,
    state,
)
from tests.browser.conftest import LiveServer, NewContext
from tests.calls import remote_call
from tests.conftest import World

pytestmark = pytest.mark.browser


async def test_the_interpreters_link_is_remade_mid_call(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, live_server.app[keys.SETTINGS], alice, person,
                             interpreter=True)
    assert call.interpreter_token is not None
    # The record changed since the interpreter was invited: the link can still be remade.
    async with live_server.db.begin() as db:
        await db.execute(update(Client).where(Client.id == person.id)
                         .values(interpreter_needed=False))
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    client = await joined(new_context, call.client_token)
    interpreter = await joined(new_context, call.interpreter_token, "interpreter",
                               name="Ines Interpreter")
    await admit(prac, person.full_name)
    await admit(prac, "Ines Interpreter")
    await phase(interpreter, "in")
    await media_flows(prac, peers=2)

    # The interpreter lost the link (or it went to the wrong address): a new one, mid-call.
    await prac.get_by_label("The interpreter").check()
    await prac.get_by_role("button", name="Create link").click()
    # (The status line says "Link created.", then the new roster's state of the call.)
    await prac.wait_for_function("() => document.getElementById('invite-link').value"
                                 ".includes('/join/')", timeout=WITHIN * 1000)
    assert not await prac.locator("#invite-error").is_visible()
    new_link = await prac.get_by_label("Link", exact=True).input_value()
    assert call.interpreter_token not in new_link
    await phase(interpreter, "final")  # whoever joined by the old link is out
    assert (await state(interpreter))["final"] == "removed"
    old = await (await new_context()).new_page()
    response = await old.goto(f"/join/{call.interpreter_token}")
    assert response is not None and response.status == 404

    again = await joined(new_context, new_link, "interpreter", name="Ines Interpreter")
    await phase(again, "waiting")
    await admit(prac, "Ines Interpreter")
    await phase(again, "in")
    await media_flows(again, peers=2)
    await media_flows(client, peers=2)


async def test_a_locked_link_is_reported_by_name(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, live_server.app[keys.SETTINGS], alice, person)
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    page = await open_link(new_context, call.client_token, birth=(1991, 2, 3))
    for _attempt in range(4):
        await page.get_by_label("Day").fill("3")
        await page.get_by_label("Month").fill("2")
        await page.get_by_label("Year").fill("1991")
        await page.get_by_role("button", name="Continue").click()
        await page.wait_for_load_state()
    locked = prac.get_by_role("status").filter(has_text="locked")
    await locked.wait_for(timeout=WITHIN * 1000)
    text = await locked.inner_text()
    assert "null" not in text and text.startswith(person.full_name), text
