"""The organisation's policy as admins change it: versions, validation, history, restore,
and every enforcement point using the version in force at once (issue #4)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from server.app import create_app
from server.casework.policy_versions import digest, shipped_source
from server.clock import now
from server.store.models import (
    AuditEvent,
    Contact,
    ContactKind,
    ContactOutcome,
    Organisation,
    PolicyDecision,
    PolicyVersion,
    Role,
    User,
)
from tests.calls import client_peer, practitioner_peer, remote_call
from tests.conftest import make_user

SHIPPED_LABEL = re.search(r'^version = "([^"]+)"', shipped_source(), re.M).group(1)  # type: ignore[union-attr]


def variant(label: str, *changes: tuple[str, str]) -> str:
    """The shipped policy under another version name, with some lines changed."""
    text = shipped_source().replace(f'version = "{SHIPPED_LABEL}"', f'version = "{label}"', 1)
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


STRICTER = ("max_days = 28", "max_days = 14")
RELAXED = (("[in_person_first]\nenabled = true", "[in_person_first]\nenabled = false"),
           ("[cadence.last_face_to_face]\nenabled = true",
            "[cadence.last_face_to_face]\nenabled = false"),
           ("[cadence.remote_share]\nenabled = true", "[cadence.remote_share]\nenabled = false"))


async def _seen_in_person(db, world, short: str, days_ago: int) -> None:
    async with db.begin() as s:
        s.add(Contact(client_id=world.clients[short].id, practitioner_id=world.users["alice"].id,
                      kind=ContactKind.FACE_TO_FACE, happened_at=now() - timedelta(days=days_ago),
                      outcome=ContactOutcome.ATTENDED, notes="", sensitive=False,
                      created_at=now(), created_by_id=world.users["alice"].id))


async def _schedule(staff, client_id: int) -> dict:
    response = await staff.post_json(f"/api/v1/clients/{client_id}/appointments", {
        "kind": "remote", "starts_at": (now() + timedelta(hours=2)).isoformat(),
        "duration_minutes": 30})
    assert response.status == 201
    return (await response.json())["decision"]


# --- reading --------------------------------------------------------------------------------

async def test_the_shipped_default_is_in_force_until_an_admin_saves_one(client, world, login):
    admin = await login(world.users["adam"])
    current = await (await admin.get("/api/v1/policy")).json()
    assert current["id"] is None and current["current"] is True
    assert current["label"] == SHIPPED_LABEL and current["source"] == shipped_source()
    history = await (await admin.get("/api/v1/policy/versions")).json()
    assert [v["label"] for v in history["items"]] == [SHIPPED_LABEL]
    page = await (await admin.get("/admin/policy")).text()
    assert "This is the policy Rapport ships with" in page
    assert "At most 28 days ago." in page


async def test_supervisors_read_the_policy_but_cannot_change_it(client, world, login):
    supervisor = await login(world.users["sue"])
    assert (await supervisor.get("/api/v1/policy")).status == 200
    page = await (await supervisor.get("/admin/policy")).text()
    assert "Change the policy" not in page
    refused = await supervisor.post_json("/api/v1/policy", {
        "source": variant("sue-1", STRICTER), "note": "I would like it stricter"})
    assert refused.status == 403


# --- changing ---------------------------------------------------------------------------------

async def test_a_saved_version_decides_the_next_scheduling_at_once(client, db, world, login):
    await _seen_in_person(db, world, "a1", days_ago=20)
    alice = await login(world.users["alice"])
    assert (await _schedule(alice, world.clients["a1"].id))["outcome"] == "allowed"

    admin = await login(world.users["adam"])
    saved = await admin.post_json("/api/v1/policy", {
        "source": variant("org-2", STRICTER), "note": "Monthly is not enough for our area."})
    assert saved.status == 201
    body = await saved.json()
    assert body["label"] == "org-2" and body["current"]
    assert body["created_by"] == world.users["adam"].name

    alice = await login(world.users["alice"])
    decision = await _schedule(alice, world.clients["a1"].id)
    assert decision["outcome"] == "needs_approval"
    assert decision["policy_version"] == "org-2"
    reason = next(r for r in decision["reasons"] if r["rule"] == "cadence.last_face_to_face")
    assert "14" in reason["message"]
    async with db() as s:
        labels = [d.policy_version for d in await s.scalars(
            select(PolicyDecision).order_by(PolicyDecision.id))]
        assert labels == [SHIPPED_LABEL, "org-2"]
        event = await s.scalar(select(AuditEvent).where(AuditEvent.action == "policy.change"))
        assert event is not None and event.detail["label"] == "org-2"
        assert event.detail["previous"] == SHIPPED_LABEL


async def test_admission_uses_the_version_in_force_without_a_restart(
        client, db, settings, world, login):
    """A client never seen in person is refused; once the organisation switches the in-person
    and cadence rules off (its own decision), the same practitioner's next admit succeeds."""
    call = await remote_call(db, settings, world.users["alice"], world.clients["a2"],
                             face_to_face=False)
    await login(world.users["alice"])
    doctor = await practitioner_peer(client, call.appointment.id)
    person = await client_peer(client, call.client_token)
    target = person.seen[0]["you"]["id"]
    await doctor.send(type="admit", participant=target)
    refused = await doctor.error("admission_refused")
    assert "in_person_first" in [r["rule"] for r in refused["reasons"]]

    async with db.begin() as s:  # as the admin's page would: the store's own save
        adam = await s.get(User, world.users["adam"].id)
        from server.casework.policy_versions import save

        await save(s, None, adam, variant("no-ipf", *RELAXED),
                   "Pilot: remote first for a short trial.")
    await doctor.send(type="admit", participant=target)
    await person.expect("admitted")
    await person.close()
    await doctor.close()
    async with db() as s:
        admits = (await s.scalars(select(PolicyDecision).where(PolicyDecision.point == "admit")
                                  .order_by(PolicyDecision.id))).all()
        assert [(d.outcome, d.policy_version) for d in admits] == [
            ("blocked", SHIPPED_LABEL), ("allowed", "no-ipf")]


async def test_a_new_checklist_item_is_asked_at_once(client, db, settings, world, login):
    item = ('[[checklist.items]]\nid = "headphones"\nrole = "client"\n'
            'wording = "Are you wearing headphones?"\nblocking = false\n\n')
    source = variant("org-head").replace("[[checklist.items]]", item + "[[checklist.items]]", 1)
    admin = await login(world.users["adam"])
    response = await admin.post_json("/api/v1/policy", {"source": source,
                                                        "note": "Ask about headphones too."})
    assert response.status == 201, await response.text()
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"])
    person = await client_peer(client, call.client_token)
    welcome = person.seen[0]
    assert "headphones" in [i["id"] for i in welcome["checklist"]["items"]]
    await person.close()


# --- bad input: the version in force stays ---------------------------------------------------

BAD = [
    ("malformed TOML", 'version = "x"\n[cadence.last_face_to_face\n', "line 2"),
    ("negative days", variant("bad-1", ("max_days = 28", "max_days = -7")), "must not be negative"),
    ("over 100 %", variant("bad-2", ("max_percent = 50", "max_percent = 150")),
     "between 0 and 100"),
    ("unknown rule id", variant("bad-3") + "\n[risk.gang_affiliation]\nenabled = true\n",
     "unknown rule id"),
    ("no version", shipped_source().replace(f'version = "{SHIPPED_LABEL}"\n', "", 1), "version"),
]


@pytest.mark.parametrize(("case", "source", "says"), BAD, ids=[b[0] for b in BAD])
async def test_a_bad_policy_is_refused_naming_the_problem(client, db, world, login, case,
                                                          source, says):
    admin = await login(world.users["adam"])
    response = await admin.post_json("/api/v1/policy", {"source": source,
                                                        "note": "Trying a change here."})
    assert response.status == 422
    problem = await response.json()
    assert "Nothing was saved" in problem["detail"]
    assert any(says in (e.get("text", "") + e["message"]).lower() or says in str(e)
               for e in problem["errors"]), problem["errors"]
    assert all("line" in e for e in problem["errors"])
    check = await admin.post_json("/api/v1/policy/check", {"source": source})
    assert check.status == 422
    current = await (await admin.get("/api/v1/policy")).json()
    assert current["label"] == SHIPPED_LABEL
    async with db() as s:
        assert (await s.scalars(select(PolicyVersion))).all() == []


async def test_other_refusals(client, db, world, login):
    admin = await login(world.users["adam"])
    no_reason = await admin.post_json("/api/v1/policy", {"source": variant("r-1", STRICTER)})
    assert no_reason.status == 422
    assert (await no_reason.json())["errors"][0]["field"] == "note"
    # The shipped default's name belongs to the shipped text: decisions carry it.
    taken = await admin.post_json("/api/v1/policy", {
        "source": variant(SHIPPED_LABEL, STRICTER), "note": "Same name, other text."})
    assert taken.status == 422 and (await taken.json())["errors"][0]["field"] == "version"
    ok = await admin.post_json("/api/v1/policy", {"source": variant("r-2", STRICTER),
                                                  "note": "A first change of ours."})
    assert ok.status == 201
    same = await admin.post_json("/api/v1/policy", {"source": variant("r-2", STRICTER),
                                                    "note": "Saving it twice by mistake."})
    assert same.status == 409
    reused = await admin.post_json("/api/v1/policy", {
        "source": variant("r-2", ("max_percent = 50", "max_percent = 40")),
        "note": "Forgot to change the version line."})
    assert reused.status == 422
    unknown_field = await admin.post_json("/api/v1/policy", {"source": "x", "extra": 1})
    assert unknown_field.status == 422
    valid = await admin.post_json("/api/v1/policy/check", {"source": variant("r-3")})
    assert valid.status == 200 and (await valid.json()) == {"valid": True, "label": "r-3"}


# --- the pages: check, save, history, restore -----------------------------------------------

async def test_admin_checks_saves_and_restores_on_the_pages(client, db, world, login):
    admin = await login(world.users["adam"])
    form = await (await admin.get("/admin/policy/edit")).text()
    assert f'version = &#34;{SHIPPED_LABEL}&#34;' in form or f'version = "{SHIPPED_LABEL}"' in form

    checked = await admin.post_form("/admin/policy", {
        "source": variant("p-1", STRICTER), "note": "", "action": "check"})
    assert checked.status == 200
    text = await checked.text()
    assert "The text is valid (version p-1). It is not saved yet." in text
    assert "<ins>+max_days = 14</ins>" in text
    async with db() as s:
        assert (await s.scalars(select(PolicyVersion))).all() == []

    bad = await admin.post_form("/admin/policy", {
        "source": variant("p-x", ("max_days = 28", "max_days = -1")),
        "note": "Trying a broken one.", "action": "save"})
    assert bad.status == 422
    text = await bad.text()
    assert "Line 27" in text and "must not be negative" in text and "max_days = -1" in text

    saved = await admin.post_form("/admin/policy", {
        "source": variant("p-1", STRICTER), "note": "Stricter cadence for the pilot.",
        "action": "save"})
    assert saved.status == 303 and saved.headers["Location"] == "/admin/policy?saved=1"
    saved2 = await admin.post_form("/admin/policy", {
        "source": variant("p-2"), "note": "Back to the usual limits.", "action": "save"})
    assert saved2.status == 303
    page = await (await admin.get("/admin/policy")).text()
    assert "Version in force: p-2." in page and "Stricter cadence for the pilot." in page

    async with db() as s:
        first = await s.scalar(select(PolicyVersion).where(PolicyVersion.label == "p-1"))
    view = await (await admin.get(f"/admin/policy/versions/{first.id}")).text()
    assert "Put this version back in force" in view
    short = await admin.post_form(f"/admin/policy/versions/{first.id}/restore", {"note": "x"})
    assert short.status == 422
    restored = await admin.post_form(f"/admin/policy/versions/{first.id}/restore",
                                     {"note": "The pilot goes on after all."})
    assert restored.status == 303
    current = await (await admin.get("/api/v1/policy")).json()
    assert current["label"] == "p-1" and current["restored_from_id"] == first.id
    history = await (await admin.get("/api/v1/policy/versions")).json()
    assert [v["label"] for v in history["items"]] == ["p-1", "p-2", "p-1", SHIPPED_LABEL]
    async with db() as s:
        actions = [e.action for e in await s.scalars(
            select(AuditEvent).where(AuditEvent.action.like("policy.%")).order_by(AuditEvent.id))]
    assert actions == ["policy.change", "policy.change", "policy.restore"]


async def test_another_organisations_versions_are_not_found(client, db, world, login):
    async with db.begin() as s:
        other = Organisation(name="Elsewhere")
        s.add(other)
        await s.flush()
        stranger: User = await make_user(s, other, None, "olga", {Role.ADMIN})
        source = variant("theirs", STRICTER)
        theirs = PolicyVersion(organisation_id=other.id, label="theirs", source=source,
                               sha256=digest(source), note="their own", created_at=now(),
                               created_by_id=stranger.id)
        s.add(theirs)
    admin = await login(world.users["adam"])
    assert (await admin.get(f"/api/v1/policy/versions/{theirs.id}")).status == 404
    assert (await admin.get(f"/admin/policy/versions/{theirs.id}")).status == 404
    assert (await (await admin.get("/api/v1/policy")).json())["label"] == SHIPPED_LABEL


async def test_a_stored_policy_this_code_refuses_stops_start_up(settings, db, world):
    async with db.begin() as s:
        s.add(PolicyVersion(organisation_id=world.org.id, label="old", sha256="0" * 64,
                            source='version = "old"\n[cadence.last_face_to_face]\nmax_days = -1\n',
                            note="written by an older release", created_at=now()))
    app = create_app(settings)
    from aiohttp.test_utils import TestServer

    server = TestServer(app, host="127.0.0.1")
    with pytest.raises(RuntimeError, match=r"(?s)organisation 'Test Probation'.*max_days"):
        await server.start_server()
    await server.close()
