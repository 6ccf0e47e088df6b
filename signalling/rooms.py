"""Rooms: who is in an appointment's room, in which state, and what each may do.

Every state change is one database transaction that updates the participant and writes a
`participant_event` (and, at admission, the policy decision); only after it commits are the
people concerned told, through the room bus. The database is the authority on state, so a
reconnecting person (on this process or another) finds themselves where they were.

Transitions (anything else is refused with a typed error):

    waiting  --admit-->  admitted  --leave-->  left  --hello-->  waiting
    waiting  --deny-->   denied                       (final for that link)
    admitted --remove--> removed                      (final for that link)
    any      --end-->    ended                        (final for that link)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from policies import ChecklistError, ChecklistRole, Outcome, Policy, decide
from policies.policy import CHECKLIST
from server.casework import decisions
from server.casework.policy_versions import PolicyStore
from server.clock import now
from server.errors import N_
from server.i18n import current_language, gettext
from server.joining.members import Member
from server.ports import Waiting
from server.store.models import (
    Appointment,
    ChecklistResponse,
    Client,
    Participant,
    ParticipantRole,
    ParticipantState,
)
from signalling.arrivals import Arrivals, Connected
from signalling.bus import RoomBus
from signalling.checklists import (
    answers_since,
    check,
    checklist_role,
    latest_checklists,
    offer_for,
    shown_questions,
)
from signalling.protocol import ErrorCode, ProtocolError
from signalling.roster import snapshots, waiting_now
from signalling.sessions import FINAL, PRESENT, event, live_session
from signalling.storms import Departures, Rosters

ALTERNATIVES = (
    ("rebook_in_person", N_("Rebook the appointment face to face.")),
    ("phone", N_("Hold the appointment by phone instead.")),
    ("reschedule", N_("Move the video session to a time when it is safe to talk.")),
)


class Rooms:
    """The operations on rooms; one instance per application."""

    def __init__(self, db: async_sessionmaker[AsyncSession], bus: RoomBus,
                 policies: PolicyStore) -> None:
        self.db = db
        self.bus = bus
        self.policies = policies
        # Called with the appointment id after a session ended (contact records listen).
        self.session_ended: list[Callable[[int], Awaitable[None]]] = []
        # Called with the appointment after every change in a room (the recording desk
        # re-decides whether recording may run: an admission pauses it, the end stops it).
        self.on_change: Callable[[int], Awaitable[None]] | None = None
        # Storms (signalling/storms.py): bounded connects, coalesced rosters, batched
        # disconnections.
        self.rosters = Rosters(self._rosters_now, self._decide)
        self.departures = Departures(db, self.roster)
        self.arrivals = Arrivals(db, policies, self.disconnect)

    async def _ended(self, appointment_id: int) -> None:
        for hook in self.session_ended:
            await hook(appointment_id)

    # --- telling people ------------------------------------------------------------------

    async def roster(self, appointment_id: int, decide: bool = True) -> None:
        """Send everyone connected what they may see of the room (then, if `decide`, let the
        recording desk re-decide); callers at once share one reading."""
        await self.rosters(appointment_id, decide)

    async def _decide(self, appointment_id: int) -> None:
        if self.on_change is not None:  # the desk bounds its own work (signalling/recording.py)
            await self.on_change(appointment_id)

    async def _rosters_now(self, appointment_ids: list[int]) -> None:
        for appointment_id, seen in (
                await snapshots(self.db, self.policies, appointment_ids)).items():
            for person in seen.people:
                view = (seen.full if person.role is ParticipantRole.PRACTITIONER else
                        seen.admitted if person.state is ParticipantState.ADMITTED else None)
                if person.connection_id is not None and view is not None:
                    await self.bus.send(appointment_id, person.id, {
                        "type": "roster", "version": seen.version, "participants": view})

    async def waiting(self, appointment_ids: Sequence[int]) -> dict[int, list[Waiting]]:
        """Who is connected and waiting now in each of these rooms."""
        return await waiting_now(self.db, appointment_ids)

    async def checklist_offer(self, member: Member, answered: bool,
                              policy: Policy | None = None) -> dict[str, Any] | None:
        """The checklist this person must answer under the policy in force (`policy`, when
        the caller read it already), worded in the current language."""
        if policy is None:
            async with self.db() as db:
                policy = await self.policies.for_appointment(db, member.appointment_id)
        return offer_for(policy, member.role, answered)

    # --- connecting -----------------------------------------------------------------------

    async def connect(self, member: Member, connection: str, resume: bool) -> Connected:
        """Mark the person connected; returns their state, since when, whether their
        checklist is answered, the session state, the id of this connection's event (no
        roster older than it speaks for this connection) and the policy in force. Raises
        `ProtocolError` SESSION_ENDED for a person whose part is over. Written in batches
        with others at the same time (signalling/arrivals.py)."""
        return await self.arrivals.connect(member, connection, resume)

    async def disconnect(self, member: Member, connection: str, drained: bool = False) -> None:
        """The WebSocket closed (`drained`: its process is stopping); state stays as it was
        (reconnecting keeps admission). Recorded in batches with others at the same time."""
        await self.departures.record(member.participant_id, member.appointment_id, connection,
                                     drained)

    # --- the checklist --------------------------------------------------------------------

    async def answer_checklist(self, member: Member, answers: dict[str, bool],
                               location: str | None) -> dict[str, Any]:
        if location is not None and member.role is not ParticipantRole.PRACTITIONER:
            raise ProtocolError(ErrorCode.BAD_CHECKLIST,
                                "only the practitioner says where they are working",
                                ref="checklist")
        role = checklist_role(member.role, location)
        current = now()
        async with self.db.begin() as db:
            policy = await self.policies.for_appointment(db, member.appointment_id)
            try:
                result = check(role, answers, policy)
            except ChecklistError as exc:
                raise ProtocolError(ErrorCode.BAD_CHECKLIST, str(exc), ref="checklist") from None
            person = await db.get(Participant, member.participant_id)
            assert person is not None
            session = await live_session(db, member.appointment_id)
            db.add(ChecklistResponse(
                participant_id=member.participant_id, appointment_id=member.appointment_id,
                role=role.value, answers=dict(answers), complete=result.complete,
                questions=shown_questions(policy, answers), language=current_language(),
                passed=result.passed, policy_version=policy.version, answered_at=current))
            event(db, person, "checklist", current, session.id if session else None,
                  role=role.value, passed=result.passed, complete=result.complete,
                  failed=[i.id for i in result.failed_blocking])
        await self.roster(member.appointment_id)
        failed = bool(result.failed_blocking)
        return {
            "type": "checklist-result", "passed": result.passed, "complete": result.complete,
            "failed": [i.id for i in result.failed_blocking],
            "advisory": [i.id for i in result.failed_advisory],
            "alternatives": [{"id": key, "text": gettext(text)} for key, text in ALTERNATIVES]
            if failed else [],
        }

    # --- the practitioner's acts ----------------------------------------------------------

    async def _target(self, db: AsyncSession, actor: Member, target_id: int,
                      states: tuple[ParticipantState, ...]) -> Participant:
        target = await db.get(Participant, target_id, with_for_update=True)
        if (target is None or target.appointment_id != actor.appointment_id
                or target.id == actor.participant_id or target.state not in states):
            wanted = " or ".join(s.value for s in states)
            raise ProtocolError(ErrorCode.UNKNOWN_PARTICIPANT,
                                f"participant {target_id} is not {wanted} in this room")
        return target

    async def admit(self, actor: Member, target_id: int) -> None:
        """Admit a waiting person if, and only if, the policy allows it now."""
        current = now()
        async with self.db.begin() as db:
            target = await self._target(db, actor, target_id, (ParticipantState.WAITING,))
            session = await live_session(db, actor.appointment_id)
            if session is None:
                raise ProtocolError(ErrorCode.SESSION_ENDED, "the session is not running")
            appointment = await db.get(Appointment, actor.appointment_id)
            assert appointment is not None
            client = await db.get(Client, appointment.client_id)
            assert client is not None
            checklists = await latest_checklists(db, actor.appointment_id,
                                                 await answers_since(db, actor.appointment_id))
            people = {p.id: p for p in await db.scalars(
                select(Participant).where(Participant.appointment_id == actor.appointment_id))}
            mine = checklists.get(actor.participant_id)
            at_home = mine is not None and mine.role == ChecklistRole.PRACTITIONER_HOME.value
            interpreter = target.role is ParticipantRole.INTERPRETER or any(
                p.role is ParticipantRole.INTERPRETER and p.state is ParticipantState.ADMITTED
                for p in people.values())
            # Each role's newest answers; a practitioner answers for their own location only.
            # A waiting interpreter's answers count only once an interpreter is in the call.
            relevant = [r for pid, r in checklists.items() if pid in people
                        and people[pid].state in PRESENT
                        and (interpreter or people[pid].role is not ParticipantRole.INTERPRETER)]
            facts = await decisions.facts_for(
                db, appointment, client, current, practitioner_at_home=at_home,
                with_interpreter=interpreter, checklists=relevant)
            decision = decide(facts, await self.policies.for_client(db, client))
            # Admitting the interpreter before the client must not wait for the client's
            # own checklist; everything else counts.
            # Blocks always count; "needs approval" only while no approval is in force.
            open_questions = decision.reasons_for(Outcome.BLOCKED) + (
                () if decision.approval is not None
                else decision.reasons_for(Outcome.NEEDS_APPROVAL))
            reasons = [r for r in open_questions
                       if not (target.role is ParticipantRole.INTERPRETER
                               and r.rule_id == CHECKLIST
                               and r.params.get("role") == ChecklistRole.CLIENT.value)]
            if target.role is ParticipantRole.CLIENT:
                reasons = [r for r in reasons if not (
                    r.rule_id == CHECKLIST
                    and r.params.get("role") == ChecklistRole.INTERPRETER.value)]
            decisions.record(db, decision, point="admit", client_id=client.id,
                             appointment_id=appointment.id, now=current,
                             actor_user_id=actor.user_id, subject_participant_id=target.id)
            if reasons:
                event(db, target, "admission_refused", current, session.id,
                      actor.participant_id, rules=sorted({r.rule_id for r in reasons}))
                refused = ProtocolError(
                    ErrorCode.ADMISSION_REFUSED,
                    gettext(N_("%(name)s cannot be admitted yet.")) % {"name": target.name},
                    ref="admit", participant=target.id,
                    reasons=[decisions.reason_out(r) for r in reasons])
            else:
                target.state, target.state_since = ParticipantState.ADMITTED, current
                event(db, target, "admitted", current, session.id, actor.participant_id,
                      policy_version=decision.policy_version)
                refused = None
        if refused is not None:
            raise refused
        # The roster first: by the time the person hears "admitted", every connection in
        # the room knows who is admitted, so their first offer is relayed. The recording
        # desk re-decides (an admission pauses recording) before "admitted" is sent, in a
        # task of its own: the practitioner's socket relays their first offer meanwhile
        # (issue #17: admission to media).
        await self.roster(actor.appointment_id, decide=False)
        self.rosters.follow(self._admitted(actor.appointment_id, target_id))

    async def _admitted(self, appointment_id: int, target_id: int) -> None:
        await self._decide(appointment_id)
        await self.bus.send(appointment_id, target_id, {"type": "admitted"})

    async def deny(self, actor: Member, target_id: int, reason: str | None) -> None:
        await self._finish(actor, target_id, (ParticipantState.WAITING,),
                           ParticipantState.DENIED, "denied", reason=reason or "")

    async def remove(self, actor: Member, target_id: int) -> None:
        await self._finish(actor, target_id, (ParticipantState.ADMITTED,),
                           ParticipantState.REMOVED, "removed")

    async def _finish(self, actor: Member, target_id: int,
                      states: tuple[ParticipantState, ...], to: ParticipantState,
                      kind: str, **detail: Any) -> None:
        current = now()
        async with self.db.begin() as db:
            target = await self._target(db, actor, target_id, states)
            session = await live_session(db, actor.appointment_id)
            target.state, target.state_since = to, current
            event(db, target, kind, current, session.id if session else None,
                  actor.participant_id, **detail)
        await self.bus.send(actor.appointment_id, target_id, {"type": kind})
        await self.roster(actor.appointment_id)

    async def end(self, actor: Member) -> None:
        """End the session for everyone."""
        current = now()
        async with self.db.begin() as db:
            session = await live_session(db, actor.appointment_id)
            people = list(await db.scalars(
                select(Participant).where(Participant.appointment_id == actor.appointment_id,
                                          Participant.state.not_in(FINAL))
                .with_for_update()))
            if session is not None:
                session.ended_at = current
            told = []
            for person in people:
                if person.role is ParticipantRole.PRACTITIONER:
                    # The practitioner may start a new session later; their row stays usable.
                    person.state, person.state_since = ParticipantState.LEFT, current
                else:
                    person.state, person.state_since = ParticipantState.ENDED, current
                event(db, person, "ended", current, session.id if session else None,
                      actor.participant_id)
                if person.connection_id is not None:
                    told.append(person.id)
        if self.on_change is not None:
            await self.on_change(actor.appointment_id)
        await self.bus.send_many(actor.appointment_id, told, {"type": "ended"})
        await self._ended(actor.appointment_id)

    async def leave(self, member: Member) -> None:
        current = now()
        async with self.db.begin() as db:
            person = await db.get(Participant, member.participant_id, with_for_update=True)
            assert person is not None
            if person.state in PRESENT:
                person.state, person.state_since = ParticipantState.LEFT, current
            session = await live_session(db, member.appointment_id)
            event(db, person, "left", current, session.id if session else None)
            # The last person out ends the session, as if the practitioner had.
            everyone_left = session is not None and await db.scalar(
                select(func.count()).select_from(Participant).where(
                    Participant.appointment_id == member.appointment_id,
                    Participant.id != person.id, Participant.state.in_(PRESENT))) == 0
            if everyone_left:
                assert session is not None
                session.ended_at = current
                event(db, person, "ended", current, session.id, reason="everyone left")
        await self.roster(member.appointment_id)
        if everyone_left:
            await self._ended(member.appointment_id)

    async def media(self, member: Member, audio: bool, video: bool) -> None:
        async with self.db.begin() as db:
            person = await db.get(Participant, member.participant_id)
            assert person is not None
            person.audio, person.video = audio, video
            session = await live_session(db, member.appointment_id)
            event(db, person, "media", now(), session.id if session else None,
                  audio=audio, video=video)
        await self.roster(member.appointment_id)

    async def link_locked(self, appointment_id: int, name: str) -> None:
        """Tell the practitioner, if they are in the room, that a client's link locked."""
        async with self.db() as db:
            practitioner = await db.scalar(select(Participant.id).where(
                Participant.appointment_id == appointment_id,
                Participant.role == ParticipantRole.PRACTITIONER))
        if practitioner is not None:
            await self.bus.send(appointment_id, practitioner,
                                {"type": "link-locked", "participant": None, "name": name})

    async def removed(self, appointment_id: int, participants: Sequence[int]) -> None:
        """Tell each of `participants` they were removed, then everyone the new roster."""
        for participant in participants:
            await self.bus.send(appointment_id, participant, {"type": "removed"})
        await self.roster(appointment_id)

    async def revoke_links(self, db: AsyncSession, appointment_id: int, role: str,
                           at: datetime) -> list[int]:
        """In the caller's transaction: the people who joined by the given role's links
        leave the room (their link was replaced); returns whom to tell once committed."""
        people = list(await db.scalars(select(Participant).where(
            Participant.appointment_id == appointment_id, Participant.role == role,
            Participant.state.in_(PRESENT)).with_for_update()))
        session = await live_session(db, appointment_id)
        for person in people:
            person.state, person.state_since = ParticipantState.REMOVED, at
            event(db, person, "removed", at, session.id if session else None,
                  reason="link replaced")
        return [p.id for p in people if p.connection_id is not None]
