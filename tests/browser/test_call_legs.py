"""Leg health in real browsers (issue #13): one leg of a three-way call is broken on
purpose (the client and the interpreter keep their candidates to themselves and start that
pair afresh); the practitioner is told in plain words, the people on the leg see
"Reconnecting…", the leg repairs itself once candidates flow again, and the contact record
says which leg failed, when, for how long and that it recovered."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from server.store.models import ContactRecord, ParticipantEvent
from tests.browser.calls import (
    admit,
    joined,
    phase,
    practitioner_page,
    state,
    stats,
)
from tests.browser.conftest import LiveServer, NewContext
from tests.browser.test_call import _settings
from tests.calls import remote_call
from tests.conftest import World

pytestmark = pytest.mark.browser

WITHIN = 60.0
# A broken leg, made by the test alone (nothing of it ships in the page): the page's signalling
# socket stops sending its ICE candidates to one peer, as a firewall between two homes would
# let no pair through. Patching the prototype reaches the socket the page already holds.
KEEP_CANDIDATES = """peer => {
  if (!window.keptCandidates) {
    window.keptCandidates = new Set();
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
      try {
        const message = JSON.parse(data);
        if (message.type === "candidate" && window.keptCandidates.has(message.to)) return;
      } catch (err) { /* not JSON: send it as it is */ }
      return send.call(this, data);
    };
  }
  window.keptCandidates.add(peer);
}"""


async def eventually(check: Any, within: float = WITHIN) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {within}s")
        await asyncio.sleep(0.5)


async def audio_flows(page: Any, peers: int) -> None:
    """Every leg of the page connected and its inbound audio bytes rising (a loaded machine
    may switch a page to audio only by itself, fallback.js, so video is not asked for)."""
    before: dict[int, int] = {}

    async def rising() -> bool:
        nonlocal before
        now = {s["id"]: s for s in await stats(page)}
        ok = len(now) == peers and before.keys() == now.keys() and all(
            s["ice"] in ("connected", "completed") and s["audioBytes"] > before[i] > 0
            for i, s in now.items())
        before = {i: s["audioBytes"] for i, s in now.items()}
        return ok

    await eventually(rising)


async def leg_kinds(live: LiveServer, appointment_id: int) -> list[str]:
    async with live.db() as db:
        rows = await db.scalars(select(ParticipantEvent.kind).where(
            ParticipantEvent.appointment_id == appointment_id,
            ParticipantEvent.kind.in_(("leg_failed", "leg_recovered")))
            .order_by(ParticipantEvent.id))
        return list(rows)


@pytest.mark.timeout(420)
async def test_a_broken_leg_is_shown_repaired_and_recorded(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, _settings(live_server), alice, person,
                             interpreter=True)
    assert call.interpreter_token is not None
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    client = await joined(new_context, call.client_token)
    interpreter = await joined(new_context, call.interpreter_token, "interpreter",
                               name="Ines Interpreter")
    await admit(prac, person.full_name)
    await phase(client, "in")
    await admit(prac, "Ines Interpreter")
    await phase(interpreter, "in")
    for page in (prac, client, interpreter):
        await audio_flows(page, peers=2)
    c = (await state(client))["me"]["id"]
    i = (await state(interpreter))["me"]["id"]
    offering = client if c < i else interpreter

    # Break the client–interpreter leg only: each page keeps its candidates to the other.
    await client.evaluate(KEEP_CANDIDATES, i)
    await interpreter.evaluate(KEEP_CANDIDATES, c)
    await offering.evaluate("peer => rapportCall.renew(peer)", i if offering is client else c)
    notice = prac.locator("#leg-status li", has_text="cannot hear each other")
    await notice.wait_for(timeout=WITHIN * 1000)
    words = await notice.inner_text()
    assert person.full_name in words and "the interpreter" in words, words
    assert await notice.get_by_role("button", name="Try again").is_visible()
    await client.locator("#leg-status li", has_text="Reconnecting to the interpreter").wait_for(
        timeout=WITHIN * 1000)
    # The practitioner's own legs are untouched.
    await audio_flows(prac, peers=2)

    # Candidates flow again: Rapport repairs the leg by itself (a fresh peer connection).
    await client.evaluate("() => window.keptCandidates.clear()")
    await interpreter.evaluate("() => window.keptCandidates.clear()")
    await notice.wait_for(state="detached", timeout=WITHIN * 1000)
    for page in (client, interpreter):
        await audio_flows(page, peers=2)
    kinds = await eventually(lambda: _both(live_server, call.appointment.id))
    assert kinds == ["leg_failed", "leg_recovered"], kinds

    # "Try again" reaches the offering side, which starts the pair afresh.
    before = await offering.evaluate("() => rapportCall.peers().map(p => p.generation)")
    await prac.evaluate("([a, b]) => rapportCall.socket().send(JSON.stringify("
                        "{type: 'repair', a, b}))", [c, i])
    await offering.wait_for_function(
        "before => rapportCall.peers().some(p => !before.includes(p.generation))", arg=before,
        timeout=WITHIN * 1000)
    for page in (client, interpreter):
        await audio_flows(page, peers=2)

    # The contact record says which leg failed, when, for how long, and that it recovered.
    await prac.get_by_role("button", name="End session for everyone").click()
    await prac.get_by_role("dialog").get_by_role("button", name="Yes").click()

    async def record() -> Any:
        async with live_server.db() as db:
            row = await db.scalar(select(ContactRecord).where(
                ContactRecord.appointment_id == call.appointment.id))
            return row if row is not None and "legs" in (row.summary or {}) else None

    row = await eventually(record)
    [leg] = row.summary["legs"]
    assert {leg["a"], leg["b"]} == {c, i} and leg["recovered"] is True
    assert leg["roles"] == ["client", "interpreter"] and leg["seconds"] > 0
    assert row.attendance.value == "attended"


async def _both(live: LiveServer, appointment_id: int) -> list[str] | None:
    kinds = await leg_kinds(live, appointment_id)
    return kinds if "leg_recovered" in kinds else None
