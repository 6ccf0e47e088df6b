"""Seeded contacts for the supervisor's dashboard (team A of tests/conftest.py's world).

Expected figures over the last 90 days, worked out by hand:

| practitioner | face to face | remote | remote share | failed | technical | round trip | loss |
|---|---|---|---|---|---|---|---|
| Alice | 2 | 2 | 50 % | 1 | 1 | 100 ms | 1.0 % |
| Bob   | 1 | 1 | 50 % | 0 | 0 | – | – |
| Dana  | 1 | 0 | 0 %  | 0 | 0 | – | – |

Team: 9 contacts. Out of policy: CRNA2 (never seen face to face: blocked) and CRNB1 (last
face to face 50 days ago, over the 28-day limit, and remote 2 of 3 with the proposed
session: needs approval). CRNA1 (last face to face 10
days ago, remote 2 of 4 with the proposed session: 50 %) and CRND1 are within policy.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from server.clock import now
from server.store.models import (
    Appointment,
    AppointmentKind,
    CallQuality,
    CallSession,
    Contact,
    ContactKind,
    ContactOutcome,
    Participant,
    ParticipantRole,
)

F2F, VIDEO, AUDIO, PHONE = (ContactKind.FACE_TO_FACE, ContactKind.VIDEO, ContactKind.AUDIO,
                            ContactKind.PHONE)
OK, FTA, TECH = (ContactOutcome.ATTENDED, ContactOutcome.FAILED_TO_ATTEND,
                 ContactOutcome.TECHNICAL_FAILURE)

CONTACTS = [  # client, practitioner, kind, outcome, days ago
    ("a1", "alice", F2F, OK, 10), ("a1", "alice", F2F, OK, 40), ("a1", "alice", VIDEO, OK, 3),
    ("a1", "alice", VIDEO, FTA, 6), ("a1", "alice", VIDEO, TECH, 8),
    ("a2", "alice", PHONE, OK, 2),
    ("b1", "bob", F2F, OK, 50), ("b1", "bob", AUDIO, OK, 20),
    ("d1", "dana", F2F, OK, 5),
    # Outside the 90 days: not counted.
    ("b1", "bob", F2F, OK, 200),
]


async def seed(db: Any, world: Any) -> None:
    """The contacts above, and one video session of Alice's with call-quality totals."""
    async with db.begin() as s:
        for client, who, kind, outcome, days in CONTACTS:
            practitioner = world.users[who]
            s.add(Contact(client_id=world.clients[client].id, practitioner_id=practitioner.id,
                          kind=kind, outcome=outcome, happened_at=now() - timedelta(days=days),
                          notes="", sensitive=False, created_at=now(),
                          created_by_id=practitioner.id))
        alice, a1 = world.users["alice"], world.clients["a1"]
        at = now() - timedelta(days=3)
        appointment = Appointment(client_id=a1.id, practitioner_id=alice.id,
                                  kind=AppointmentKind.REMOTE, starts_at=at,
                                  duration_minutes=30, created_at=at)
        s.add(appointment)
        await s.flush()
        session = CallSession(appointment_id=appointment.id, started_at=at,
                              started_by_id=alice.id, ended_at=at + timedelta(minutes=30))
        person = Participant(appointment_id=appointment.id, role=ParticipantRole.CLIENT,
                             name="Client CRNA1", state_since=at, created_at=at,
                             expires_at=at + timedelta(hours=2))
        s.add_all([session, person])
        await s.flush()
        s.add(CallQuality(call_session_id=session.id, participant_id=person.id, samples=3,
                          rtt_samples=3, rtt_ms_sum=300, rtt_ms_max=150, packets_received=990,
                          packets_lost=10, kbps_in_sum=1500, kbps_out_sum=1200, kbps_in_min=400,
                          first_at=at, last_at=at + timedelta(minutes=30)))
