"""Demo data: one team, its staff, and a caseload covering what the policy rules care about."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.clock import now
from server.joining import invitations
from server.settings import Settings
from server.staff.passwords import hash_password
from server.store.models import (
    Appointment,
    AppointmentKind,
    Client,
    Contact,
    ContactKind,
    ContactOutcome,
    ContactRecord,
    InvitationRole,
    Organisation,
    Role,
    RoshLevel,
    SafeguardingFlag,
    Team,
    User,
)

ORGANISATION = "Demo Probation Service"
STAFF = [
    ("practitioner", "Priya Patel", "priya.patel@demo.rapport.test", {Role.PRACTITIONER}),
    ("practitioner2", "Tom Evans", "tom.evans@demo.rapport.test", {Role.PRACTITIONER}),
    ("supervisor", "Sam Okafor", "sam.okafor@demo.rapport.test", {Role.SUPERVISOR}),
    ("admin", "Alex Morgan", "alex.morgan@demo.rapport.test", {Role.ADMIN}),
    ("data protection officer", "Dee Price", "dee.price@demo.rapport.test", {Role.DPO}),
]
_WORDS = ("amber", "harbour", "lantern", "meadow", "copper", "willow", "granite", "orchard",
          "thistle", "beacon", "saffron", "juniper", "pebble", "quartz", "riverside", "summit")


@dataclass
class DemoResult:
    logins: dict[str, tuple[str, str]]  # role label -> (email, password)
    client_link: str
    interpreter_link: str
    client_date_of_birth: date


def _passphrase() -> str:
    return "-".join(secrets.choice(_WORDS) for _ in range(4)) + str(secrets.randbelow(90) + 10)


async def _client(db: AsyncSession, org: Organisation, practitioner: User, crn: str,
                  given: str, family: str, born: date, **extra: object) -> Client:
    client = Client(organisation_id=org.id, practitioner_id=practitioner.id, crn=crn,
                    given_name=given, family_name=family, date_of_birth=born,
                    created_at=now(), **extra)
    db.add(client)
    await db.flush()
    return client


def _contact(client: Client, practitioner: User, kind: ContactKind, when: datetime,
             notes: str) -> Contact:
    return Contact(client_id=client.id, practitioner_id=practitioner.id, kind=kind,
                   happened_at=when, outcome=ContactOutcome.ATTENDED, notes=notes,
                   sensitive=False, created_at=now(), created_by_id=practitioner.id)


async def _seed(db: AsyncSession, org: Organisation, staff: dict[str, User]) -> None:
    pp, tom = staff["practitioner"], staff["practitioner2"]
    t = now()
    await _client(db, org, pp, "X100001", "Jordan", "Reid", date(1996, 3, 14),
                  rosh_level=RoshLevel.LOW)  # never seen in person
    recent = await _client(db, org, pp, "X100002", "Casey", "Morgan", date(1990, 7, 2),
                           rosh_level=RoshLevel.MEDIUM)
    lapsed = await _client(db, org, pp, "X100003", "Dylan", "Hughes", date(1985, 11, 23),
                           rosh_level=RoshLevel.LOW)
    high = await _client(db, org, pp, "X100004", "Morgan", "Price", date(1979, 1, 30),
                         rosh_level=RoshLevel.VERY_HIGH, mappa_level=2,
                         safeguarding_flags=[SafeguardingFlag.DOMESTIC_ABUSE.value])
    polish = await _client(db, org, pp, "X100005", "Katarzyna", "Nowak", date(1992, 5, 9),
                           rosh_level=RoshLevel.LOW, preferred_language="pl",
                           interpreter_needed=True, interpreter_language="pl")
    other = await _client(db, org, tom, "X200001", "Riley", "Jones", date(1988, 9, 17),
                          rosh_level=RoshLevel.MEDIUM)
    db.add_all([
        # Mostly in person, so the demo's video session passes the remote-share rule.
        _contact(recent, pp, ContactKind.FACE_TO_FACE, t - timedelta(days=35),
                 "Induction completed in the office."),
        _contact(recent, pp, ContactKind.FACE_TO_FACE, t - timedelta(days=21),
                 "Office appointment: sentence plan agreed."),
        _contact(recent, pp, ContactKind.FACE_TO_FACE, t - timedelta(days=7),
                 "Office appointment."),
        _contact(recent, pp, ContactKind.PHONE, t - timedelta(days=3), "Checked in by phone."),
        _contact(lapsed, pp, ContactKind.FACE_TO_FACE, t - timedelta(days=40),
                 "Office appointment."),
        _contact(lapsed, pp, ContactKind.VIDEO, t - timedelta(days=20), "Video check-in."),
        _contact(high, pp, ContactKind.FACE_TO_FACE, t - timedelta(days=5), "Home visit."),
        _contact(polish, pp, ContactKind.FACE_TO_FACE, t - timedelta(days=10),
                 "Office appointment with a Polish interpreter."),
        _contact(other, tom, ContactKind.FACE_TO_FACE, t - timedelta(days=2),
                 "Office appointment."),
    ])


async def _todays_appointment(db: AsyncSession, client: Client,
                              practitioner: User) -> Appointment:
    """One demo appointment, starting now, however many times the demo runs: an earlier
    run's that held no session is moved to now (its links are replaced below); any other
    unheld one left by earlier runs is cancelled. One that was held keeps its record."""
    start = now().replace(second=0, microsecond=0)
    held = select(ContactRecord.appointment_id)
    unheld = (await db.scalars(select(Appointment).where(
        Appointment.client_id == client.id, Appointment.kind == AppointmentKind.REMOTE,
        Appointment.cancelled_at.is_(None), Appointment.id.not_in(held))
        .order_by(Appointment.id))).all()
    for old in unheld[:-1]:
        old.cancelled_at = now()
    if unheld:
        unheld[-1].starts_at = start
        await db.flush()
        return unheld[-1]
    appointment = Appointment(client_id=client.id, practitioner_id=practitioner.id,
                              kind=AppointmentKind.REMOTE, starts_at=start,
                              duration_minutes=30, created_at=now())
    db.add(appointment)
    await db.flush()
    return appointment


async def load(db: AsyncSession, settings: Settings) -> DemoResult:
    """Create the demo organisation once; on every run reset passwords and mint fresh links."""
    org = await db.scalar(select(Organisation).where(Organisation.name == ORGANISATION))
    fresh = org is None
    if org is None:
        org = Organisation(name=ORGANISATION)
        db.add(org)
        await db.flush()
        team = Team(organisation_id=org.id, name="Cardiff North")
        db.add(team)
        await db.flush()
    else:
        existing = await db.scalar(select(Team).where(Team.organisation_id == org.id))
        assert existing is not None, "the demo organisation always has its team"
        team = existing
    staff: dict[str, User] = {}
    logins: dict[str, tuple[str, str]] = {}
    for label, name, email, roles in STAFF:
        password = _passphrase()
        user = await db.scalar(select(User).where(User.email == email))
        if user is None:
            user = User(organisation_id=org.id, team_id=team.id, email=email, name=name,
                        password_hash="", created_at=now(), active=True)
            user.roles = frozenset(roles)
            db.add(user)
        user.password_hash = await hash_password(password)
        user.active = True
        await db.flush()
        staff[label] = user
        logins[label] = (email, password)
    if fresh:
        await _seed(db, org, staff)
    client = await db.scalar(select(Client).where(Client.crn == "X100002"))
    assert client is not None
    appointment = await _todays_appointment(db, client, staff["practitioner"])
    _inv, client_token = await invitations.mint(db, appointment, InvitationRole.CLIENT,
                                                staff["practitioner"], settings)
    _inv, interp_token = await invitations.mint(db, appointment, InvitationRole.INTERPRETER,
                                                staff["practitioner"], settings)
    return DemoResult(logins, invitations.link(settings, client_token),
                      invitations.link(settings, interp_token), client.date_of_birth)
