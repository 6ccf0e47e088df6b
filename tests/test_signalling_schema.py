"""docs/signalling.schema.json is generated from the code and describes what really flows."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from signalling import protocol, schema
from tests.calls import client_peer, practitioner_peer, remote_call

DOCS = Path(__file__).resolve().parent.parent / "docs"
SCHEMA = json.loads((DOCS / "signalling.schema.json").read_text(encoding="utf-8"))


def validator(part: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({"$defs": SCHEMA["$defs"],
                                            "$ref": f"#/$defs/{part}"})


def test_schema_file_is_generated_from_the_code():
    assert (DOCS / "signalling.schema.json").read_text(encoding="utf-8") == \
        schema.schema_text(), "run: python -m signalling.schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def _examples() -> list[dict[str, object]]:
    text = (DOCS / "signalling.md").read_text(encoding="utf-8")
    out = []
    for block in re.findall(r"```json\n(.*?)```", text, re.S):
        for line in block.splitlines():
            if line.startswith("→ "):
                out.append(json.loads(line[2:]))
    return out


@pytest.mark.parametrize("message", _examples())
def test_documented_browser_messages_are_valid(message):
    validator("ToServer").validate(message)
    protocol.parse(json.dumps(message))


async def test_every_message_of_a_real_call_matches_the_schema(client, db, settings, world,
                                                               login):
    await login(world.users["alice"])
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"])
    doctor = await practitioner_peer(client, call.appointment.id)
    person = await client_peer(client, call.client_token)
    await doctor.send(type="admit", participant=person.seen[0]["you"]["id"])
    await person.expect("admitted")
    await person.send(type="offer", to=doctor.seen[0]["you"]["id"], sdp="v=0")
    await doctor.expect("offer")
    await person.send(type="media", audio=False, video=False)
    await doctor.expect("media")
    await person.send(type="nonsense")
    await person.error("unknown_type")
    await doctor.send(type="end")
    await person.expect("ended")
    await doctor.expect("ended")
    check = validator("FromServer")
    for message in doctor.seen + person.seen:
        check.validate(message)
    assert {m["type"] for m in doctor.seen + person.seen} >= {
        "welcome", "roster", "checklist-result", "waiting", "admitted", "offer", "media",
        "error", "ended"}
    await person.close()
    await doctor.close()
