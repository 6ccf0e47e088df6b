"""Demo data covers the situations the policy rules care about, and its links work."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from policies import Outcome
from server import demo
from server.casework.decisions import decide_remote
from server.casework.keys import POLICIES
from server.clock import now
from server.staff.passwords import verify_password
from server.store.models import Appointment, Client, Contact, ContactKind, Invitation, RoshLevel
from tests.calls import CSRF_FIELD


async def _load(db, settings):
    async with db.begin() as s:
        return await demo.load(s, settings)


async def _last_f2f_days(db, crn):
    async with db() as s:
        client = await s.scalar(select(Client).where(Client.crn == crn))
        dates = (await s.scalars(select(Contact.happened_at).where(
            Contact.client_id == client.id, Contact.kind == ContactKind.FACE_TO_FACE))).all()
    return None if not dates else (now() - max(dates)).days


async def test_caseload_covers_policy_situations(db, settings):
    result = await _load(db, settings)
    async with db() as s:
        clients = {c.crn: c for c in (await s.scalars(select(Client))).all()}
        appointment = await s.scalar(select(Appointment).order_by(Appointment.id.desc()))
    assert await _last_f2f_days(db, "X100001") is None  # never seen in person
    assert await _last_f2f_days(db, "X100002") == 7  # seen last week
    assert await _last_f2f_days(db, "X100003") == 40
    assert clients["X100004"].rosh_level == RoshLevel.VERY_HIGH
    assert clients["X100005"].interpreter_needed and clients["X100005"].interpreter_language == "pl"
    # the demo appointment: remote, now, with the client seen last week
    assert appointment.client_id == clients["X100002"].id
    assert abs(appointment.starts_at - now()) < timedelta(minutes=2)
    assert result.client_date_of_birth == clients["X100002"].date_of_birth


async def test_the_demo_session_is_allowed_by_the_policy(app, db, settings):
    """The printed client link leads to a session the policy lets start (no refusal at
    admission): the first command's demo must work end to end."""
    await _load(db, settings)
    async with db() as s:
        appointment = await s.scalar(select(Appointment).order_by(Appointment.id.desc()))
        client = await s.get(Client, appointment.client_id)
        decision = await decide_remote(s, app[POLICIES], appointment, client, now())
    assert decision.outcome is Outcome.ALLOWED, decision.reasons


async def test_printed_passwords_work(db, settings):
    result = await _load(db, settings)
    from server.store.models import User

    async with db() as s:
        for email, password in result.logins.values():
            user = await s.scalar(select(User).where(User.email == email))
            assert await verify_password(user.password_hash, password)


async def test_reloading_keeps_one_caseload(db, settings):
    await _load(db, settings)
    await _load(db, settings)
    async with db() as s:
        assert len((await s.scalars(select(Client))).all()) == 6


async def test_client_link_asks_birth_date_then_leaves_address_bar(client, db, settings):
    result = await _load(db, settings)
    path = result.client_link.removeprefix(settings.base_url)
    page = await client.get(path, allow_redirects=False)
    assert page.status == 200 and "Your date of birth" in await page.text()
    csrf = CSRF_FIELD.search(await page.text())
    assert csrf is not None
    born = result.client_date_of_birth
    response = await client.post(path, data={
        "csrf_token": csrf.group(1), "day": str(born.day), "month": str(born.month),
        "year": str(born.year)}, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/join"
    room = await client.get("/join")
    assert room.status == 200
    assert 'data-role="client"' in await room.text()
    async with db() as s:
        used = {i.role.value: i.claimed_at for i in (await s.scalars(select(Invitation))).all()}
        assert used["client"] is not None and used["interpreter"] is None


async def test_bad_expired_and_revoked_links_say_the_same(client, db, settings):
    result = await _load(db, settings)
    client_path = result.client_link.removeprefix(settings.base_url)
    interp_path = result.interpreter_link.removeprefix(settings.base_url)
    bad = await client.get("/join/not-a-real-token")
    assert bad.status == 404
    async with db.begin() as s:
        await s.execute(update(Invitation).where(Invitation.role == "client")
                        .values(valid_until=now() - timedelta(minutes=1)))
        await s.execute(update(Invitation).where(Invitation.role == "interpreter")
                        .values(revoked_at=now()))
    expired = await client.get(client_path)
    revoked = await client.get(interp_path)
    texts = {await r.text() for r in (bad, expired, revoked)}
    assert {r.status for r in (expired, revoked)} == {404}
    assert len({t.split("<main", 1)[1] for t in texts}) == 1  # nothing reveals which case
    assert "This link does not work" in texts.pop()


async def test_running_the_demo_twice_leaves_one_clean_demo(client, db, settings):
    """Today's demo appointment once, not one per run; the first run's links stop working,
    the second run's work."""
    first = await _load(db, settings)
    second = await _load(db, settings)
    async with db() as s:
        live = (await s.scalars(select(Appointment).where(
            Appointment.cancelled_at.is_(None)))).all()
        links = (await s.scalars(select(Invitation).where(
            Invitation.revoked_at.is_(None)))).all()
    assert len(live) == 1 and abs(live[0].starts_at - now()) < timedelta(minutes=2)
    assert sorted(i.role.value for i in links) == ["client", "interpreter"]
    old = await client.get(first.client_link.removeprefix(settings.base_url))
    new = await client.get(second.client_link.removeprefix(settings.base_url))
    assert (old.status, new.status) == (404, 200)
