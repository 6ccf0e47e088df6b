"""The waiting-room note and the text chat over signalling (#14): who may send them, who gets
them, limits (size, rate, admission), markup kept as text, stored with the appointment."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.store.models import ChatMessage
from signalling.chat import CHAT_BURST, clean
from signalling.chat_protocol import CHAT_MAX_CHARS
from tests.calls import client_peer, practitioner_peer, remote_call

INTERPRETER_CHECKS = {"interpreter.private": True, "interpreter.confidential": True}


@pytest.fixture
async def call(db, settings, world, login):
    await login(world.users["alice"])
    return await remote_call(db, settings, world.users["alice"], world.clients["a1"],
                             interpreter=True)


async def test_running_late_reaches_the_waiting_and_later_arrivals(client, call):
    doctor = await practitioner_peer(client, call.appointment.id)
    person = await client_peer(client, call.client_token)
    await doctor.send(type="running-late", minutes=10)
    told = await doctor.expect("running-late")
    assert told["minutes"] == 10 and told["waiting"] == 1 and told["at"].endswith("Z")
    seen = await person.expect("running-late")
    assert seen == {"type": "running-late", "minutes": 10, "at": told["at"]}
    # Someone who arrives in the waiting room afterwards is told too.
    interp = await client_peer(client, call.interpreter_token, checklist=None, name="Ola")
    assert (await interp.expect("running-late"))["minutes"] == 10
    # Only 5, 10 or 15 minutes; only the practitioner.
    await doctor.send(type="running-late", minutes=7)
    await doctor.error("invalid_message")
    await person.send(type="running-late", minutes=5)
    await person.error("not_admitted")
    for peer in (interp, person, doctor):
        await peer.close()


async def test_chat_between_admitted_people_only(client, db, call):
    doctor = await practitioner_peer(client, call.appointment.id)
    person = await client_peer(client, call.client_token)
    interp = await client_peer(client, call.interpreter_token, checklist=INTERPRETER_CHECKS,
                               name="Ola Nowak")
    client_id = person.seen[0]["you"]["id"]
    # Waiting: a typed error, nothing stored or sent.
    await person.send(type="chat", text="hello?")
    await person.error("not_admitted")
    await person.send(type="chat-history")
    await person.error("not_admitted")
    await doctor.send(type="admit", participant=client_id)
    await person.expect("admitted")

    await person.send(type="chat", text="  My address is <b>12 High St</b>\n  ")
    got = await doctor.expect("chat")
    assert got["text"] == "My address is <b>12 High St</b>"  # kept as typed, shown as text
    assert got["from"] == client_id and got["role"] == "client"
    assert got["name"] == "Client CRNA1" and got["at"].endswith("Z")
    assert (await person.expect("chat"))["id"] == got["id"]  # the sender sees it stored
    await doctor.send(type="chat", text="Thank you")
    assert (await person.expect("chat"))["text"] == "Thank you"
    # The interpreter, still waiting, heard none of it; let in, they ask for the history.
    assert not [m for m in interp.seen if m["type"] == "chat"]
    await doctor.send(type="admit", participant=interp.seen[0]["you"]["id"])
    await interp.expect("admitted")
    await interp.send(type="chat-history")
    history = await interp.expect("chat-history")
    assert [m["text"] for m in history["messages"]] == [
        "My address is <b>12 High St</b>", "Thank you"]

    async with db() as session:
        rows = (await session.scalars(select(ChatMessage).order_by(ChatMessage.id))).all()
    assert [(r.appointment_id, r.author_role, r.body) for r in rows] == [
        (call.appointment.id, "client", "My address is <b>12 High St</b>"),
        (call.appointment.id, "practitioner", "Thank you")]
    for peer in (interp, person, doctor):
        await peer.close()


async def test_chat_limits(client, call):
    doctor = await practitioner_peer(client, call.appointment.id)
    await doctor.send(type="chat", text="x" * (CHAT_MAX_CHARS + 1))
    too_long = await doctor.error("invalid_message")
    assert too_long["errors"][0]["field"] == "text"
    await doctor.send(type="chat", text="")
    await doctor.error("invalid_message")
    await doctor.send(type="chat", text=" \u0000\u200b ".replace("\u200b", ""))
    assert (await doctor.error("invalid_message"))["message"] == "the chat message is empty"
    for n in range(CHAT_BURST):
        await doctor.send(type="chat", text=f"message {n}")
        await doctor.expect("chat", text=f"message {n}")
    await doctor.send(type="chat", text="one too many")
    assert (await doctor.error("rate_limited"))["ref"] == "chat"
    await doctor.close()


def test_clean_keeps_text_and_new_lines_drops_control_characters():
    assert clean(" a\u0007b\nc\u202e ") == "ab\nc"
    assert clean("<script>alert(1)</script>") == "<script>alert(1)</script>"
