"""The supervisor's dashboard: contact mix, attendance, call quality and who is out of policy.

Figures per practitioner of the supervisor's team and per client, over the last `days`.
Whether a client is "out of policy" is asked of the policy rules themselves (`policies.decide`
for a remote session now), never re-implemented here. Charts are inline SVG drawn here, with
a table of the same figures beside each (the SVG is decoration for sighted readers; the
table is the text alternative).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from policies import Facts, Policy, ProposedSession, decide
from policies.facts import REMOTE_KINDS, ContactKind, ContactOutcome
from server.casework import caseload, decisions
from server.store.models import (
    Appointment,
    CallQuality,
    CallSession,
    Client,
    Contact,
    Role,
    User,
)

PERIODS = (30, 90, 365)


@dataclass(slots=True)
class Figures:
    """Counts for one practitioner or client over the period."""

    label: str
    face_to_face: int = 0
    remote: int = 0
    failed_to_attend: int = 0
    technical_failure: int = 0
    other: int = 0
    rtt_ms_sum: int = 0
    rtt_samples: int = 0
    packets_lost: int = 0
    packets: int = 0

    @property
    def total(self) -> int:
        return (self.face_to_face + self.remote + self.failed_to_attend
                + self.technical_failure + self.other)

    @property
    def remote_percent(self) -> int | None:
        attended = self.face_to_face + self.remote
        return round(100 * self.remote / attended) if attended else None

    @property
    def rtt_ms(self) -> int | None:
        return round(self.rtt_ms_sum / self.rtt_samples) if self.rtt_samples else None

    @property
    def loss_percent(self) -> float | None:
        return round(100 * self.packets_lost / self.packets, 1) if self.packets else None

    def count(self, contact: Contact) -> None:
        if contact.outcome is ContactOutcome.ATTENDED:
            if contact.kind is ContactKind.FACE_TO_FACE:
                self.face_to_face += 1
            else:
                self.remote += 1
        elif contact.outcome is ContactOutcome.FAILED_TO_ATTEND:
            self.failed_to_attend += 1
        elif contact.outcome is ContactOutcome.TECHNICAL_FAILURE:
            self.technical_failure += 1
        else:
            self.other += 1

    def add_quality(self, q: CallQuality) -> None:
        self.rtt_ms_sum += q.rtt_ms_sum
        self.rtt_samples += q.rtt_samples
        self.packets_lost += q.packets_lost
        self.packets += q.packets_received + q.packets_lost


@dataclass(slots=True)
class ClientFigures(Figures):
    client: Client | None = None
    practitioner: str = ""
    last_face_to_face: datetime | None = None
    policy: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Dashboard:
    days: int
    since: datetime
    practitioners: list[Figures]
    clients: list[ClientFigures]
    team: Figures

    @property
    def out_of_policy(self) -> list[ClientFigures]:
        return [c for c in self.clients if c.policy.get("outcome") != "allowed"]


async def build(db: AsyncSession, actor: User, policy: Policy, at: datetime,
                days: int) -> Dashboard:
    """The dashboard of the actor's team (their visible clients)."""
    since = at - timedelta(days=days)
    staff = {u.id: u for u in await db.scalars(select(User).where(
        User.team_id == actor.team_id, User.organisation_id == actor.organisation_id))
        if Role.PRACTITIONER in u.roles} if actor.team_id is not None else {}
    clients = list(await db.scalars(caseload.visible_clients(actor)
                                    .order_by(Client.family_name, Client.given_name)))
    per_practitioner = {uid: Figures(u.name) for uid, u in sorted(
        staff.items(), key=lambda item: item[1].name)}
    per_client = {c.id: ClientFigures(c.full_name, client=c,
                                      practitioner=staff[c.practitioner_id].name
                                      if c.practitioner_id in staff else "")
                  for c in clients}
    team = Figures("team")
    contacts = await db.scalars(select(Contact).where(
        Contact.client_id.in_(list(per_client)), Contact.happened_at >= since,
        Contact.happened_at <= at))
    for contact in contacts:
        for figures in (per_client[contact.client_id], team,
                        per_practitioner.get(contact.practitioner_id)):
            if figures is not None:
                figures.count(contact)
    await _quality(db, since, per_client, per_practitioner, team)
    for figures in per_client.values():
        assert figures.client is not None
        await _policy(db, figures, figures.client, policy, at)
    return Dashboard(days, since, list(per_practitioner.values()), list(per_client.values()),
                     team)


async def _quality(db: AsyncSession, since: datetime, per_client: dict[int, ClientFigures],
                   per_practitioner: dict[int, Figures], team: Figures) -> None:
    rows = await db.execute(
        select(CallQuality, Appointment.client_id, Appointment.practitioner_id)
        .join(CallSession, CallSession.id == CallQuality.call_session_id)
        .join(Appointment, Appointment.id == CallSession.appointment_id)
        .where(Appointment.client_id.in_(list(per_client)), CallSession.started_at >= since))
    for quality, client_id, practitioner_id in rows.all():
        for figures in (per_client.get(client_id), per_practitioner.get(practitioner_id), team):
            if figures is not None:
                figures.add_quality(quality)


async def _policy(db: AsyncSession, figures: ClientFigures, client: Client, policy: Policy,
                  at: datetime) -> None:
    """Would the policy allow a remote session with this client now, and if not, why."""
    history = await decisions.contact_facts(db, client.id)
    facts = Facts(client=decisions.client_facts(client, at),
                  session=ProposedSession(remote=True, starts_at=at,
                                          practitioner_id=client.practitioner_id),
                  now=at, contacts=history, approvals=await decisions.approval_facts(db, client.id))
    decision = decide(facts, policy)
    figures.last_face_to_face = max(
        (c.happened_at for c in history if c.attended and c.kind not in REMOTE_KINDS),
        default=None)
    figures.policy = decisions.explain(decision)


# --- charts ---------------------------------------------------------------------------------

# Colours with at least 3:1 contrast against white; each segment also carries its own
# <title>, and every chart sits beside a table of the same figures.
SEGMENTS = (("face_to_face", "#1d4f91"), ("remote", "#00703c"),
            ("failed_to_attend", "#b10e1e"), ("technical_failure", "#6f3b00"),
            ("other", "#505a5f"))
WIDTH, BAR, GAP, LABEL, AXIS = 320, 18, 30, 16, 22


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    width: float
    colour: str
    title: str


@dataclass(frozen=True, slots=True)
class ChartRow:
    top: int
    label: str
    bars: tuple[Bar, ...]


@dataclass(frozen=True, slots=True)
class Chart:
    """The geometry of a horizontal bar chart; `_chart.html` draws it as SVG."""

    id: str
    title: str
    description: str
    rows: tuple[ChartRow, ...]
    width: int = WIDTH
    bar: int = BAR
    label: int = LABEL
    # What each colour means (label, colour), and the scale: 0 to `most` in `axis` units.
    legend: tuple[tuple[str, str], ...] = ()
    axis: str = ""
    most: float = 0

    @property
    def bars_height(self) -> int:
        return len(self.rows) * (BAR + GAP)

    @property
    def height(self) -> int:
        return self.bars_height + AXIS + 4


def mix_chart(rows: Sequence[Figures], names: dict[str, str], title: str,
              description: str, axis: str = "contacts") -> Chart:
    """A stacked bar per row: attended face to face, attended remote, missed, technical."""
    most = max((r.total for r in rows), default=0) or 1
    out = []
    for index, row in enumerate(rows):
        x, bars = 0.0, []
        for key, colour in SEGMENTS:
            value = int(getattr(row, key))
            if value:
                width = (WIDTH - 2) * value / most
                bars.append(Bar(round(x, 1), round(width, 1), colour,
                                f"{row.label}: {names[key]} {value}"))
                x += width
        out.append(ChartRow(index * (BAR + GAP), f"{row.label} ({row.total})", tuple(bars)))
    legend = tuple((names[key], colour) for key, colour in SEGMENTS)
    return Chart(_id(title), title, description, tuple(out), legend=legend, axis=axis,
                 most=most)


def bar_chart(rows: Sequence[tuple[str, float | None]], title: str, description: str,
              unit: str) -> Chart:
    """One bar per row (rows without a value are named, with no bar)."""
    most = max((v for _, v in rows if v is not None), default=0) or 1
    out = []
    for index, (label, value) in enumerate(rows):
        shown = "–" if value is None else f"{value:g} {unit}"
        bars = (Bar(0, round((WIDTH - 2) * value / most, 1), "#1d4f91", f"{label}: {shown}"),
                ) if value else ()
        out.append(ChartRow(index * (BAR + GAP), f"{label}: {shown}", bars))
    return Chart(_id(title), title, description, tuple(out), axis=unit, most=most)


def _id(title: str) -> str:
    """A stable element id for a chart (its title may hold any text)."""
    return f"c{zlib.crc32(title.encode('utf-8')):08x}"
