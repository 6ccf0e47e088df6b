"""The pages a data protection officer reads (the access log, the readable subject access
document, the Retention page) say every code in words (server/privacy/words.py); the
machine-readable export keeps the codes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sqlalchemy import select

from server.clock import now
from server.privacy import words
from server.privacy.subject_access import COVERAGE, SECRET_COLUMNS
from server.store import audit
from server.store.models import Base, OutboxStatus, Participant, ParticipantEvent
from tests.test_privacy import seeded  # noqa: F401 (a fixture)
from tests.test_retention import _seed as seed_retention

ROOT = Path(__file__).parent.parent
SOURCES = [p for folder in ("server", "signalling") for p in (ROOT / folder).rglob("*.py")]
# The action argument of every audit call: its string literals are the actions it records.
AUDIT_CALL = re.compile(r"(?:audit\.record(?:_each)?|record_attempt)\(\s*[^,]+,\s*[^,]+,"
                        r"\s*([^,\n]+(?:\n[^,\n]+)?),")
PARTICIPANT_KIND = re.compile(r"""(?:\bevent\(\s*db,\s*\w+,\s*|\blog\(db,\s*member,\s*|"""
                              r"""rows\.append\(\(|kind = |"kind": |"""
                              r"""_close\(db, session, \w+, )"(\w+)\"""")
# What must never show on a page for people: dotted codes, identifiers, booleans, ISO times.
RAW = re.compile(r"\b[a-z]+\.[a-z_]+\b(?!\.)|\b[a-z]+_[a-z_]+\b|\bTrue\b|\bFalse\b"
                 r"|\bNone\b(?! recorded)|\d{4}-\d\d-\d\dT\d\d")


def _actions_in_the_code() -> set[str]:
    found = {"audit.prune"}  # server/store/auditchain.py PRUNE_ACTION
    for path in SOURCES:
        text = path.read_text()
        for argument in AUDIT_CALL.findall(text):
            found |= set(re.findall(r'"([a-z_]+\.[a-z_]+)"', argument))
        if "signalling" in path.parts or path.name == "building.py":  # participant events
            found |= {f"participant.{kind}" for kind in PARTICIPANT_KIND.findall(text)}
    found |= {f"message.{status.value}" for status in OutboxStatus}
    found |= {f"participant.consent_{kind}" for kind in ("given", "declined", "withdrawn")}
    return found


def test_every_audit_action_the_code_records_has_words() -> None:
    actions = _actions_in_the_code()
    assert len(actions) > 60 and "participant.disconnected" in actions  # the scan works
    assert actions - set(words.ACTIONS) == set(), "add these to server/privacy/words.ACTIONS"


def test_every_column_of_the_readable_document_has_a_label() -> None:
    columns = {c.name for name in COVERAGE for c in Base.metadata.tables[name].columns}
    missing = columns - SECRET_COLUMNS - words.TECHNICAL - set(words.FIELDS)
    assert missing == set(), "add these to server/privacy/words.FIELDS"


def _text_of(html: str) -> str:
    """What a reader sees: the text, without markup, styles or attributes."""
    body = html.split("<body", 1)[-1]
    return re.sub(r"<[^>]+>", " ", body)


async def test_the_readable_document_says_everything_in_words(
        login: Any, world: Any, seeded: Any) -> None:  # noqa: F811
    mine, _other = seeded
    dpo = await login(world.users["olive"])
    page = await (await dpo.get(f"/privacy/clients/{mine['client'].id}/export.html")).text()
    text = _text_of(page)
    assert RAW.findall(text) == [], [text[m.start() - 80:m.end()] for m in RAW.finditer(text)]
    assert "The client's record was viewed" in text.replace("&#39;", "'")
    assert "Alice" in text and "Europe/London" in text and "Yes" in text
    assert "Safe to go ahead" in text and "remote (video)" in text
    # The machine-readable file keeps every code as stored.
    raw = await (await dpo.get(f"/privacy/clients/{mine['client'].id}/export.json")).text()
    document = json.loads(raw)
    assert "client.view" in {e["action"] for e in document["tables"]["audit_event"]}
    assert "organisation_id" in document["tables"]["client"][0]
    assert "T" in document["tables"]["appointment"][0]["starts_at"]


async def test_the_access_log_says_what_happened_in_words(
        db: Any, login: Any, world: Any, seeded: Any) -> None:  # noqa: F811
    mine, _other = seeded
    client = mine["client"]
    async with db.begin() as s:
        person = await s.scalar(select(Participant.id).where(
            Participant.appointment_id == mine["appointment"]).limit(1))
        s.add(ParticipantEvent(appointment_id=mine["appointment"], participant_id=person,
                               kind="disconnected", at=now(), detail={"reason": "timeout"}))
        audit.record(s, None, "invitation.create", "invitation", 1, client_id=client.id,
                     role="client", sent_by="sms")
        audit.record(s, None, "appointment.move", "appointment", 1, client_id=client.id,
                     was=now().isoformat(), now=now().isoformat())
        audit.record(s, None, "message.bounced", "outbox_message", 1, client_id=client.id,
                     kind="reminder", channel="email", attempts=1, sensitive=False)
    dpo = await login(world.users["olive"])
    page = await (await dpo.get(f"/privacy/clients/{client.id}")).text()
    text = _text_of(page.split("</h2>", 2)[-1])  # the log, after the export form
    assert RAW.findall(text) == [], RAW.findall(text)
    for sentence in ("A link to join a video session was made", "Sent by: text message",
                     "An appointment was moved to a new time", "Old time:",
                     "A message could not reach the client", "Kind: reminder", "Sensitive: No"):
        assert sentence in text, sentence


async def test_the_retention_page_names_kinds_items_and_periods_in_words(
        db: Any, settings: Any, world: Any, login: Any) -> None:
    await seed_retention(db, settings, world)
    admin = await login(world.users["adam"])
    page = await (await admin.get("/privacy/retention")).text()
    text = _text_of(page.split("<h1", 1)[-1])
    text = text.replace("RAPPORT_RETENTION_", "").replace("docs/privacy.md", "")
    assert RAW.findall(text) == [], RAW.findall(text)
    assert "Links to join video sessions" in text
    assert "Audit entries (who accessed what)" in text and "days" in text


def test_what_a_sweep_found_reads_as_words() -> None:
    assert words.item("participant event 12") == "Joining or leaving time 12"
    assert words.item("audit entries seq 1 to 40") == "Audit entries 1 to 40"
    assert words.item("invitation 3") == "Link 3"
    assert words.kind("participants").startswith("People in video sessions")
    assert words.setting("retention_message_days") == "Messages sent to clients"


async def test_the_words_are_translated(login: Any, world: Any, seeded: Any) -> None:  # noqa: F811
    mine, _other = seeded
    dpo = await login(world.users["olive"])
    log = await (await dpo.get(f"/privacy/clients/{mine['client'].id}?lang=cy")).text()
    assert "Edrychwyd ar gofnod y cleient" in log  # "The client's record was viewed"
    document = await (await dpo.get(
        f"/privacy/clients/{mine['client'].id}/export.html?lang=ar")).text()
    assert "تاريخ الميلاد" in document and "Date of birth" not in document
