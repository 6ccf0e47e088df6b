"""Consent-gated recording in the room: requests, answers, withdrawals, and the recorder.

Every change (a consent event, an admission, a disconnection, the end of the call) leads to
`evaluate`, which reads the ledger and who is present from the database, asks the pure
`consent.decide`, and only then starts or stops the recorder. Nothing else starts it. State is
broadcast to everyone in the room as a `recording` message; see docs/recording.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import shutil
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consent import RECORDING, ConsentKind, Decision, Verdict, Why
from consent import decide as decide_consent
from consent import wording as consent_wording
from media.recorder import RecorderManager, RecordingFailed
from policies import Policy
from policies.policy import OnWithdrawal
from server.casework.policy_versions import PolicyStore
from server.clock import now
from server.i18n import Catalogues
from server.joining.members import Member
from server.store.models import (
    ConsentEventRow,
    Participant,
    ParticipantRole,
    Recording,
    RecordingState,
)
from signalling.bus import CallFailed, RoomBus
from signalling.protocol import ErrorCode, ProtocolError
from signalling.recorder_home import forward_offer, moved_away, owner, started_here
from signalling.recording_notices import RecordingNotices
from signalling.recording_store import (
    ACTIVE,
    Facts,
    active,
    asked_in,
    close_segment,
    log,
    read_facts,
    stamp,
    to_request,
)
from signalling.sessions import live_session
from signalling.storms import DECIDE_SLOTS, Gate, Lookup


class RecordingDesk:
    """The room's side of recording; one per application."""

    def __init__(self, db: async_sessionmaker[AsyncSession], bus: RoomBus,
                 policies: PolicyStore, catalogues: Catalogues,
                 recorder: RecorderManager) -> None:
        self.db, self.bus, self.policies, self.catalogues = db, bus, policies, catalogues
        self.recorder = recorder
        recorder.on_failure = self.failed
        # Each participant's connection language, and the prompts already shown, are kept on
        # the bus: the connection and the change that prompts may be on different processes.
        self.languages: dict[int, str] = {}  # participant → language (a cache of the bus)
        self.locks: dict[int, asyncio.Lock] = {}
        self.asking, self.deciding = Lookup(functools.partial(asked_in, db)), Gate(DECIDE_SLOTS)
        self.notices = RecordingNotices(bus)
        self.withdrawn: set[int] = set()  # requests withdrawn whose ledger row may not be in
        # Seconds from each withdrawal message to every recorder peer closed (for tests and
        # the performance notes: the issue asks for "within a second").
        self.stop_times: list[float] = []
        # The recorder of a session runs on the practitioner's process (docs/recording.md,
        # "Recording across processes"); the others forward to it through the bus.
        bus.serve("desk-evaluate", self._served_evaluate)
        bus.serve("recorder-offer", self._served_offer)
        bus.serve("recorder-stop", self._served_stop)

    async def _served_stop(self, payload: dict[str, Any]) -> dict[str, Any]:
        await self.recorder.stop(int(payload["appointment"]))
        return {}

    async def _served_evaluate(self, payload: dict[str, Any]) -> dict[str, Any]:
        await self.evaluate(int(payload["appointment"]))
        return {}

    async def _served_offer(self, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            return {"sdp": await self._offer(int(payload["appointment"]),
                                             int(payload["participant"]),
                                             int(payload["request"]), str(payload["sdp"]))}
        except ProtocolError as exc:
            return {"refused": exc.message}

    def lock(self, appointment_id: int) -> asyncio.Lock:
        return self.locks.setdefault(appointment_id, asyncio.Lock())

    async def policy_for(self, appointment_id: int) -> Policy:
        """The organisation's policy in force now (an admin may have changed it)."""
        async with self.db() as db:
            return await self.policies.for_appointment(db, appointment_id)

    async def set_language(self, participant_id: int, language: str) -> None:
        self.languages[participant_id] = language
        await self.bus.remember(f"lang:{participant_id}", language)

    async def wording(self, participant_id: int,
                      policy: Policy) -> consent_wording.ShownWording:
        """The consent wording as this person is shown it, in their connection's language."""
        language = (await self.bus.recall(f"lang:{participant_id}")
                    or self.languages.get(participant_id, self.catalogues.languages[0]))
        translate = self.catalogues.get(language).ugettext
        return consent_wording.render(
            language, policy.recording.retention_days, translate,
            keep_on_withdrawal=policy.recording.on_withdrawal is OnWithdrawal.KEEP)

    # --- acts -----------------------------------------------------------------------------

    async def request(self, member: Member) -> None:
        """The practitioner asks to record; refused if policy forbids it or no key is set."""
        policy = await self.policy_for(member.appointment_id)
        if not policy.recording.allowed:
            raise ProtocolError(ErrorCode.RECORDING_NOT_ALLOWED,
                                "your organisation's policy does not allow recording sessions",
                                ref="record")
        if not self.recorder.available():
            raise ProtocolError(ErrorCode.RECORDING_UNAVAILABLE,
                                "recording is not set up on this server (no encryption key)",
                                ref="record")
        current = now()
        async with self.lock(member.appointment_id):
            async with self.db.begin() as db:
                session = await live_session(db, member.appointment_id)
                if session is None:
                    raise ProtocolError(ErrorCode.SESSION_ENDED, "the session is not running",
                                        ref="record")
                if await active(db, member.appointment_id) is not None:
                    raise ProtocolError(ErrorCode.RECORDING_ACTIVE,
                                        "a recording request is already open", ref="record")
                db.add(Recording(
                    appointment_id=member.appointment_id, call_session_id=session.id,
                    requested_by_id=member.participant_id, requested_at=current,
                    purpose=RECORDING, wording_version=consent_wording.version(
                        policy.recording.on_withdrawal is OnWithdrawal.KEEP),
                    state=RecordingState.ASKING, segments=[],
                    retention_until=current + timedelta(
                        days=policy.recording.retention_days)))
                log(db, member, "recording_requested", current, session.id)
            await self._evaluate(member.appointment_id)

    async def answer(self, member: Member, request_id: int, yes: bool, sha256: str) -> None:
        """A person's yes or no to the current request, for the wording they were shown."""
        await self._consent(member, request_id, ConsentKind.GIVEN if yes
                            else ConsentKind.DECLINED, sha256, "consent")

    async def withdraw(self, member: Member, request_id: int) -> None:
        """Anyone present stops the recording of the current request, at once."""
        started = time.monotonic()
        appointment_id = member.appointment_id
        if self.notices.is_open(appointment_id, request_id) and request_id not in self.withdrawn:
            # The connection only passes on a withdrawal from someone admitted (the handler
            # checks), and a withdrawal always ends the request (consent.decide says STOP).
            # So, from memory alone: cut the files and close the recorder's peers, tell
            # everyone, and only then write the ledger (no database, no lock, no executor).
            self.withdrawn.add(request_id)
            closing = self.recorder.cut(appointment_id, request_id)
            await self.notices.stopped_now(appointment_id, request_id, "withdrawn")
            if closing is not None:
                await closing
                self.stop_times.append(time.monotonic() - started)
        await self._consent(member, request_id, ConsentKind.WITHDRAWN, None, "withdraw")

    async def _consent(self, member: Member, request_id: int, kind: ConsentKind,
                       sha256: str | None, ref: str) -> None:
        shown = await self.wording(member.participant_id,
                             await self.policy_for(member.appointment_id))
        if sha256 is not None and sha256 != shown.sha256:
            raise ProtocolError(ErrorCode.WORDING_MISMATCH,
                                "this answer does not name the wording you were shown; "
                                "answer the prompt again", ref=ref, request=request_id)
        current = now()
        async with self.lock(member.appointment_id):
            async with self.db.begin() as db:
                row = await active(db, member.appointment_id)
                if row is None or row.id != request_id:
                    raise ProtocolError(ErrorCode.UNKNOWN_REQUEST,
                                        f"recording request {request_id} is not open in this "
                                        f"session", ref=ref, request=request_id)
                said = await db.scalar(
                    select(ConsentEventRow.kind).where(
                        ConsentEventRow.recording_id == row.id,
                        ConsentEventRow.participant_id == member.participant_id)
                    .order_by(ConsentEventRow.id.desc()).limit(1))
                if kind is not ConsentKind.WITHDRAWN and said is not None:
                    raise ProtocolError(ErrorCode.CONSENT_REPEATED,
                                        "you have already answered this request; to stop "
                                        "the recording, withdraw", ref=ref, request=request_id)
                db.add(ConsentEventRow(
                    appointment_id=member.appointment_id, call_session_id=row.call_session_id,
                    recording_id=row.id, participant_id=member.participant_id,
                    purpose=row.purpose, kind=kind.value, wording_version=shown.version,
                    wording_sha256=shown.sha256, language=shown.language, at=current))
                log(db, member, f"consent_{kind.value}", current, row.call_session_id,
                    recording=row.id)
            await self._evaluate(member.appointment_id)

    async def recorder_offer(self, member: Member, request_id: int, sdp: str) -> str:
        """Answer a browser's offer to the recorder, only while everyone present said yes."""
        home = await owner(self.db, self.bus, member.appointment_id)
        if home == self.bus.process:
            return await self._offer(member.appointment_id, member.participant_id,
                                     request_id, sdp)
        return await forward_offer(self.bus, home, member, request_id, sdp)

    async def _offer(self, appointment_id: int, participant_id: int, request_id: int,
                     sdp: str) -> str:
        async with self.lock(appointment_id):
            async with self.db() as db:
                row = await active(db, appointment_id)
            if row is None or row.id != request_id or row.state is not RecordingState.RECORDING \
                    or appointment_id not in self.recorder.live:
                raise ProtocolError(ErrorCode.RECORDER_REFUSED,
                                    "the recording is not running", ref="recorder-offer")
            try:
                return await self.recorder.accept(appointment_id, participant_id, sdp)
            except (RecordingFailed, ValueError) as exc:
                raise ProtocolError(ErrorCode.RECORDER_REFUSED, str(exc),
                                    ref="recorder-offer") from None

    async def failed(self, appointment_id: int, message: str) -> None:
        """The recorder cannot write: stop, mark the recording failed, tell the practitioner."""
        async with self.lock(appointment_id):
            await self.recorder.stop(appointment_id)
            async with self.db.begin() as db:
                row = await active(db, appointment_id)
                if row is None:
                    return
                close_segment(row, now())
                row.state, row.stopped_at = RecordingState.FAILED, now()
                row.stopped_reason, row.error = "failed", message[:2000]
                practitioner = await db.scalar(select(Participant.id).where(
                    Participant.appointment_id == appointment_id,
                    Participant.role == ParticipantRole.PRACTITIONER))
            facts = await read_facts(self.db, appointment_id)
            await self._broadcast(facts, row, (), message=message)
            if practitioner is not None:
                await self.bus.send(appointment_id, practitioner, ProtocolError(
                    ErrorCode.RECORDING_UNAVAILABLE, f"Recording stopped: {message}",
                    request=row.id).to_message())

    # --- deciding ---------------------------------------------------------------------------

    async def evaluate(self, appointment_id: int) -> None:
        """After any change in the room: decide, then start or stop the recorder. The common
        case, nothing asked, is one query for every room asking at once (a storm, #17)."""
        if appointment_id in self.recorder.live or await self.asking(appointment_id):
            async with self.deciding, self.lock(appointment_id):  # never ahead of welcomes
                await self._evaluate(appointment_id)

    async def _evaluate(self, appointment_id: int) -> None:
        if appointment_id not in self.recorder.live and not await self.asking(appointment_id):
            return
        home = await owner(self.db, self.bus, appointment_id)
        if home != self.bus.process:  # the recorder is there; never start a second one
            if appointment_id in self.recorder.live:
                await self.recorder.stop(appointment_id)
            with contextlib.suppress(CallFailed):
                await self.bus.call(home, "desk-evaluate", {"appointment": appointment_id})
            return
        policy = await self.policy_for(appointment_id)
        facts = await read_facts(self.db, appointment_id)
        row = facts.recording
        if row is None:
            if appointment_id in self.recorder.live:  # never leave a peer without a request
                await self.recorder.stop(appointment_id)
            return
        if row.state is RecordingState.RECORDING and appointment_id not in self.recorder.live \
                and await moved_away(self.bus, appointment_id):
            await self._set(row.id, RecordingState.STOPPED, now(), "restart", "")
            facts = await read_facts(self.db, appointment_id, row.id)
            await self._broadcast(facts, facts.recording, ())
            return
        decision = decide_consent(facts.ledger, to_request(row),
                                  facts.present if facts.session_live else frozenset(),
                                  allowed=policy.recording.allowed)
        if not facts.session_live:
            decision = Decision(Verdict.STOP, decision.why)
        elif row.id in self.withdrawn:  # told "stopped" already; the ledger row may lag
            decision = Decision(Verdict.STOP, Why.WITHDRAWN)
        if decision.record:
            await self._record(appointment_id, row)
        else:
            await self.recorder.stop(appointment_id)
            await self._hold(appointment_id, row, decision, facts.session_live, policy)
        facts = await read_facts(self.db, appointment_id, row.id)
        await self._broadcast(facts, facts.recording, sorted(decision.missing))
        if facts.recording is not None and facts.recording.state in ACTIVE:
            await self._prompt(appointment_id, facts, decision.missing)

    async def _record(self, appointment_id: int, row: Recording) -> None:
        if row.state is RecordingState.RECORDING and appointment_id in self.recorder.live:
            return
        current = now()
        try:
            await self.recorder.start(appointment_id, row.id, len(row.segments) + 1)
        except RecordingFailed as exc:
            await self._set(row.id, RecordingState.FAILED, current, "failed", str(exc))
            return
        await started_here(self.bus, appointment_id)
        async with self.db.begin() as db:
            fresh = await db.get(Recording, row.id, with_for_update=True)
            assert fresh is not None
            fresh.segments = [*fresh.segments, {"started": stamp(current), "stopped": None}]
            fresh.state = RecordingState.RECORDING
            fresh.key_id = self.recorder.keys.current
            fresh.file_path = self.recorder.folder_for(row.id).name

    async def _hold(self, appointment_id: int, row: Recording, decision: Decision,
                    live: bool, policy: Policy) -> None:
        current = now()
        if decision.verdict is Verdict.WAIT:
            state = RecordingState.PAUSED if row.segments else RecordingState.ASKING
            await self._set(row.id, state, current, "", "")
            return
        reason = decision.why.value if live else "ended"
        await self._set(row.id, RecordingState.STOPPED, current, reason, "")
        self.withdrawn.discard(row.id)
        if reason == "withdrawn" and policy.recording.on_withdrawal is OnWithdrawal.DISCARD:
            await self.discard(row.id, "withdrawn")

    async def _set(self, recording_id: int, state: RecordingState, at: datetime, reason: str,
                   error: str) -> None:
        async with self.db.begin() as db:
            row = await db.get(Recording, recording_id, with_for_update=True)
            assert row is not None
            close_segment(row, at)
            if row.state is state:
                return
            row.state = state
            if state in (RecordingState.STOPPED, RecordingState.FAILED):
                if row.stopped_at is None:
                    # The period set (and shown to everyone) when recording was asked for,
                    # counted from the end of the recording.
                    row.retention_until = at + (row.retention_until - row.requested_at)
                row.stopped_at, row.stopped_reason, row.error = at, reason, error

    async def discard(self, recording_id: int, reason: str) -> None:
        """Delete a recording's files now and say so on its row."""
        async with self.db.begin() as db:
            row = await db.get(Recording, recording_id, with_for_update=True)
            if row is None or row.deleted_at is not None:
                return
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(shutil.rmtree, self.recorder.folder_for(row.id))
            row.deleted_at, row.deleted_reason = now(), reason

    # --- telling people ---------------------------------------------------------------------

    async def _broadcast(self, facts: Facts, row: Recording | None, waiting: Sequence[int],
                         message: str | None = None) -> None:
        await self.notices.broadcast(facts.connected, row, waiting, message)

    async def _prompt(self, appointment_id: int, facts: Facts, missing: frozenset[int]) -> None:
        row = facts.recording
        assert row is not None
        answered = {e.participant_id for e in facts.ledger}
        policy = await self.policy_for(appointment_id)
        for person in sorted(missing - answered):
            if not await self.bus.first(
                    f"prompted:{row.id}:{person}:{facts.connections.get(person, '')}"):
                continue
            shown = await self.wording(person, policy)
            await self.bus.send(appointment_id, person, {
                "type": "consent-prompt", "request": row.id,
                "wording": {"version": shown.version, "language": shown.language,
                            "sha256": shown.sha256, "title": shown.title,
                            "paragraphs": list(shown.paragraphs), "question": shown.question}})

    async def drain(self) -> None:
        """This process is stopping: its recordings stop cleanly and everyone is told
        (reason "restart"); the practitioner may ask again once on another process."""
        for appointment_id in tuple(self.recorder.live):
            async with self.lock(appointment_id):
                await self.recorder.stop(appointment_id)
                async with self.db() as db:
                    row = await active(db, appointment_id)
                if row is not None:
                    await self._set(row.id, RecordingState.STOPPED, now(), "restart", "")
                    facts = await read_facts(self.db, appointment_id, row.id)
                    await self._broadcast(facts, facts.recording, ())

    async def close(self) -> None:
        await self.recorder.close()
