"""Plain words for the codes Rapport stores, for the pages a data protection officer reads and
the document a client receives: audit actions, field names, stored values, retention kinds.

One table per kind of code, all here, so the access log, the readable subject access
document and the Retention page say the same thing in the same words (each translated like
any other page). The machine-readable export keeps the codes: it is for machines.
A code missing from a table still reads as words (`_humane`), and a test walks every audit
action the code records and every column of the export, so a new one is a one-line entry.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from contextlib import suppress
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime

from server.errors import N_
from server.i18n import current_language
from server.i18n import gettext as _

# What happened, as a sentence a person can read (audit `action`).
ACTIONS: dict[str, str] = {
    "access_log.view": N_("The access log of this client was viewed"),
    "appointment.cancel": N_("An appointment was cancelled"),
    "appointment.create": N_("An appointment was booked"),
    "appointment.move": N_("An appointment was moved to a new time"),
    "approval.request": N_("Approval of remote contact was asked for"),
    "approval.approve": N_("Remote contact was approved by a supervisor"),
    "approval.refuse": N_("Remote contact was refused by a supervisor"),
    "approvals.view": N_("The list of approvals was viewed"),
    "audit.prune": N_("Old audit entries were deleted under the retention schedule"),
    "audit.tamper_refused": N_("An attempt to change the audit log was refused"),
    "call.failure": N_("A video session could not connect"),
    "call.open": N_("A video session was opened"),
    "caseload.listed": N_("The client was listed on a caseload"),
    "caseload.view": N_("A caseload was viewed"),
    "client.contact_details": N_("The client's phone number or email address was recorded"),
    "client.view": N_("The client's record was viewed"),
    "contact.create": N_("A contact was recorded"),
    "contact.export": N_("Contact records were exported"),
    "contact.history": N_("The history of a contact record was viewed"),
    "contact.update": N_("A contact record was changed"),
    "contact.view": N_("A contact record was viewed"),
    "contact_record.create": N_("A record of a video session was made"),
    "contact_record.list": N_("Records of video sessions were listed"),
    "contact_record.view": N_("A record of a video session was viewed"),
    "dashboard.view": N_("The dashboard was viewed"),
    "diary.view": N_("A diary was viewed"),
    "diary.listed": N_("The client was listed on a diary"),
    "factor.enrol": N_("A second sign-in factor was set up"),
    "factor.failure": N_("A second sign-in factor was wrong"),
    "factor.reset": N_("A second sign-in factor was reset"),
    "factor.verify": N_("A second sign-in factor was checked"),
    "invitation.create": N_("A link to join a video session was made"),
    "invitation.revoke": N_("A link to join a video session was withdrawn"),
    "invitation.use": N_("A link to join a video session was opened"),
    "invitation.wrong_birth_date": N_("A wrong date of birth was given when joining"),
    "login.failure": N_("A staff sign-in failed"),
    "login.success": N_("A member of staff signed in"),
    "staff.sso_failure": N_("A sign-in through the organisation's single sign-on was refused"),
    "staff.sso_link": N_("A staff account was linked to the organisation's single sign-on"),
    "staff.sso_login": N_("A member of staff signed in through single sign-on"),
    "staff.sso_unlink": N_("A staff account was unlinked from single sign-on"),
    "logout": N_("A member of staff signed out"),
    "logout.everywhere": N_("A member of staff signed out on every device"),
    "message.queue": N_("A message to the client was prepared"),
    "message.resend": N_("A message to the client was sent again"),
    "message.retry": N_("A message to the client was tried again"),
    "message.pending": N_("A message to the client is waiting to be tried again"),
    "message.sending": N_("A message to the client is being sent"),
    "message.sent": N_("A message to the client was sent"),
    "message.delivered": N_("A message reached the client"),
    "message.bounced": N_("A message could not reach the client's address"),
    "message.failed": N_("A message to the client could not be sent"),
    "message.cancelled": N_("A message to the client was no longer needed"),
    "message.skipped": N_("A message to the client was not sent"),
    "organisation.reminders": N_("The times of reminders were changed"),
    "outbox.view": N_("The list of messages was viewed"),
    "participant.admission_refused": N_("Someone was refused entry to a video session"),
    "participant.admitted": N_("Someone was let into a video session"),
    "participant.checklist": N_("Someone answered the safe-space check"),
    "participant.disconnected": N_("Someone's connection to a video session dropped"),
    "participant.ended": N_("A video session ended"),
    "participant.joined": N_("Someone joined a video session"),
    "participant.left": N_("Someone left a video session"),
    "participant.media": N_("Someone's camera or microphone was turned on or off"),
    "participant.removed": N_("Someone was removed from a video session"),
    "participant.started": N_("A video session started"),
    "participant.waiting": N_("Someone was waiting to be let in"),
    "participant.reconnected": N_("Someone reconnected to a video session"),
    "participant.interrupted": N_("A video session was interrupted"),
    "participant.leg_failed": N_("The connection between two people in a session failed"),
    "participant.leg_recovered": N_("The connection between two people in a session came back"),
    "participant.recording_requested": N_("A recording of the session was asked for"),
    "participant.consent_given": N_("Someone said yes to recording"),
    "participant.consent_declined": N_("Someone said no to recording"),
    "participant.consent_withdrawn": N_("Someone withdrew their yes to recording"),
    "password.change": N_("A staff password was changed"),
    "password.change_refused": N_("A new staff password was refused"),
    "policy.change": N_("The contact rules were changed"),
    "policy.decision": N_("The contact rules were applied"),
    "policy.restore": N_("An earlier version of the contact rules was restored"),
    "precall.result": N_("A check of camera, microphone and connection was made"),
    "recording.delete": N_("A recording was deleted"),
    "recording.download": N_("A recording was downloaded"),
    "recording.play": N_("A recording was played"),
    "recording.view": N_("A recording was viewed"),
    "retention.delete": N_("Old information was deleted under the retention schedule"),
    "retention.preview": N_("The retention schedule was looked at"),
    "retention.run": N_("The retention schedule was applied"),
    "session.end": N_("A video session was ended"),
    "subject_access.export": N_("A copy of everything held about the client was made"),
    "team.view": N_("A team's caseloads were viewed"),
    "token.create": N_("A staff API key was made"),
    "token.revoke": N_("A staff API key was withdrawn"),
    "user.activate": N_("A staff account was switched on"),
    "user.deactivate": N_("A staff account was switched off"),
    "user.create": N_("A staff account was made"),
    "users.view": N_("The list of staff accounts was viewed"),
    "webhook.remove": N_("The case system's address was removed"),
    "webhook.rotate": N_("The case system's secret was changed"),
    "webhook.set": N_("The case system's address was set"),
}

# What a field holds (columns of the export, keys of audit details).
FIELDS: dict[str, str] = {
    "action": N_("What happened"), "actor": N_("Done by"), "actor_id": N_("Done by"),
    "actor_user_id": N_("Decided for"), "active": N_("Switched on"),
    "actual_end": N_("Actual end"), "actual_start": N_("Actual start"),
    "address": N_("Network address"), "answered_at": N_("Answered at"),
    "answers": N_("Answers"), "appointment": N_("Appointment"),
    "appointment_id": N_("Appointment"), "appointments": N_("Appointments shown"),
    "at": N_("When"), "attempts": N_("Attempts"), "attendance": N_("Attendance"),
    "author_name": N_("Written by"), "author_role": N_("Writer's part in the call"),
    "body": N_("Message"),
    "audio": N_("Microphone on"), "bitrate_kbps": N_("Connection speed (kbit/s)"),
    "built_at": N_("Made at"), "bulk": N_("Many at once"), "call_session_id": N_("Video session"),
    "camera": N_("Camera works"), "cancelled_at": N_("Cancelled at"), "channel": N_("Sent by"),
    "claimed_at": N_("First opened at"), "client_id": N_("Client"),
    "clients": N_("Clients shown"), "complete": N_("All answered"),
    "contact_id": N_("Contact"), "contact_preference": N_("Preferred way to be reached"),
    "contact_record_id": N_("Record of a video session"), "count": N_("How many"),
    "counts": N_("How many of each kind"), "created_at": N_("Made at"),
    "created_by_id": N_("Made by"), "crn": N_("Case reference number"), "cutoff": N_("Older than"),
    "date_of_birth": N_("Date of birth"), "days": N_("Days"), "decided_at": N_("Decided at"),
    "decided_by_id": N_("Decided by"), "deleted": N_("Deleted"), "deleted_at": N_("Deleted at"),
    "deleted_reason": N_("Why it was deleted"), "detail": N_("Details"),
    "due_at": N_("Due at"), "duration_minutes": N_("Length (minutes)"),
    "email": N_("Email address"), "ended": N_("Ended"), "ended_at": N_("Ended at"),
    "entries": N_("Entries shown"), "error": N_("What went wrong"),
    "expires_at": N_("Ends at"), "failed_attempts": N_("Wrong dates of birth given"),
    "family_name": N_("Family name"), "file": N_("File"), "first_at": N_("First measured at"),
    "first_used_at": N_("First used at"), "format": N_("Format"), "given_name": N_("Given name"),
    "happened_at": N_("Took place at"), "hours": N_("Hours before"),
    "interpreter_language": N_("Interpreter's language"),
    "interpreter_needed": N_("Needs an interpreter"), "invitation_id": N_("Link"),
    "kbps_in_min": N_("Slowest incoming speed (kbit/s)"), "kind": N_("Kind"),
    "label": N_("Name"), "language": N_("Language"), "last_at": N_("Last measured at"),
    "last_error": N_("What went wrong"), "locked": N_("Locked"), "locked_at": N_("Locked at"),
    "loss_percent": N_("Lost data (per cent)"), "mappa_level": N_("MAPPA level"),
    "method": N_("How"), "microphone": N_("Microphone works"), "modality": N_("How it was held"),
    "name": N_("Name"), "note": N_("Note"), "notes": N_("Notes"), "now": N_("New time"),
    "outcome": N_("Outcome"), "packets_lost": N_("Pieces of sound and picture lost"),
    "packets_received": N_("Pieces of sound and picture received"),
    "participant": N_("Person"), "participant_id": N_("Person"), "passed": N_("Safe to go ahead"),
    "passkey_id": N_("Passkey"), "payload": N_("Message details"), "phone": N_("Mobile number"),
    "point": N_("Applied when"), "policy_version": N_("Version of the contact rules"),
    "practitioner_id": N_("Probation practitioner"),
    "preference": N_("Preferred way to be reached"),
    "preferred_language": N_("Preferred language"), "previous": N_("Previous version"),
    "purpose": N_("Purpose"), "questions": N_("Questions"), "rationale": N_("Reason given"),
    "reason": N_("Reason"), "reasons": N_("Reasons"), "recipient": N_("Sent to"),
    "recording_id": N_("Recording"), "recovery_left": N_("Recovery codes left"),
    "replaced_at": N_("Replaced at"), "replaced_by_id": N_("Replaced by"),
    "request_note": N_("Why it was asked for"), "requested_at": N_("Asked for at"),
    "requested_by_id": N_("Asked for by"), "retention_until": N_("Kept until"),
    "retry_in_seconds": N_("Tried again after (seconds)"), "reviewed_at": N_("Reviewed at"),
    "reviewed_by_id": N_("Reviewed by"), "revoked_at": N_("Withdrawn at"), "role": N_("Role"),
    "roles": N_("Roles"), "rosh_level": N_("Risk of serious harm"),
    "rtt_ms": N_("Connection delay (milliseconds)"),
    "rtt_ms_max": N_("Longest connection delay (milliseconds)"), "rule_ids": N_("Rules applied"),
    "rules": N_("Rules applied"), "safeguarding_flags": N_("Safeguarding"),
    "samples": N_("Measurements"), "scheduled_end": N_("Planned end"),
    "scheduled_start": N_("Planned start"), "secret_changed": N_("Secret changed"),
    "segments": N_("Parts recorded"), "sensitive": N_("Sensitive"), "sent_at": N_("Sent at"),
    "sent_by": N_("Sent by"), "shown": N_("Shown"), "started_at": N_("Started at"),
    "started_by_id": N_("Started by"), "starts_at": N_("Starts at"), "state": N_("State"),
    "state_since": N_("In that state since"), "status": N_("Status"),
    "status_at": N_("Status since"), "stopped_at": N_("Stopped at"),
    "stopped_reason": N_("Why it stopped"), "subject_participant_id": N_("About the person"),
    "summary": N_("Summary"), "target_id": N_("About"), "target_type": N_("About"),
    "url": N_("Address"), "user_id": N_("Member of staff"), "users": N_("Staff shown"),
    "valid_from": N_("Works from"), "valid_until": N_("Works until"), "verdict": N_("Result"),
    "verified": N_("Identity checked"), "version": N_("Version"), "video": N_("Camera on"),
    "was": N_("Old time"), "wording_version": N_("Version of the words shown"),
    "upto_seq": N_("Up to entry"), "by_participant": N_("By the person"),
    "peer": N_("With the person"), "a": N_("First person"), "b": N_("Second person"),
    "resume": N_("Carried on after a break"), "replaced": N_("Replaced an earlier connection"),
    "failed": N_("Answers that stopped the session"), "seconds": N_("Seconds"),
    "recording": N_("Recording"), "id": N_("Number"),
}

# Internal numbers, keys and checksums: in the machine-readable file, not the readable one.
TECHNICAL = frozenset({
    "organisation_id", "hash", "prev_hash", "seq", "request_id", "lease_id", "lease_until",
    "idempotency_key", "connection_id", "epoch", "key_id", "wording_sha256", "file_path",
    "provider_id", "kbps_in_sum", "kbps_out_sum", "rtt_ms_sum", "rtt_samples", "upto_hash",
    "_appointment_id",
    "viewing",  # a recording's viewing id: random, told apart by time on the pages
})

# Stored values that are codes (enumerations, kinds, reasons).
VALUES: dict[str, str] = {
    "in_person": N_("in person"), "remote": N_("remote (video)"),
    "client": N_("the client"), "interpreter": N_("an interpreter"),
    "practitioner": N_("a probation practitioner"), "supervisor": N_("a supervisor"),
    "admin": N_("an administrator"), "dpo": N_("the data protection officer"),
    "waiting": N_("waiting"), "admitted": N_("let in"), "denied": N_("refused entry"),
    "joined": N_("joined"), "reconnected": N_("reconnected"), "left": N_("left"),
    "removed": N_("removed"), "ended": N_("ended"),
    "pending": N_("waiting"), "approved": N_("approved"), "refused": N_("refused"),
    "sending": N_("being sent"), "sent": N_("sent"), "delivered": N_("delivered"),
    "bounced": N_("bounced"), "failed": N_("failed"), "cancelled": N_("cancelled"),
    "skipped": N_("not sent"), "sms": N_("text message"), "email": N_("email"),
    "allowed": N_("allowed"), "blocked": N_("not allowed"),
    "needs_approval": N_("needs a supervisor's approval"),
    "schedule": N_("when the appointment was booked"), "mint": N_("when a link was made"),
    "admit": N_("when someone was let in"), "admission": N_("when someone was let in"),
    "low": N_("low"), "medium": N_("medium"), "high": N_("high"), "very_high": N_("very high"),
    "face_to_face": N_("face to face"), "video": N_("video"), "audio": N_("audio only"),
    "phone": N_("telephone"), "attended": N_("attended"),
    "failed_to_attend": N_("did not attend"), "rescheduled": N_("moved to another time"),
    "technical_failure": N_("could not go ahead for technical reasons"),
    "domestic_abuse": N_("domestic abuse"), "child_protection": N_("child protection"),
    "child_in_need": N_("child in need"), "sexual_conviction": N_("sexual conviction"),
    "national_security": N_("national security"), "youth_case": N_("youth case"),
    "asking": N_("asking everyone"), "recording": N_("recording"), "paused": N_("paused"),
    "stopped": N_("stopped"), "given": N_("said yes"), "declined": N_("said no"),
    "withdrawn": N_("withdrew their yes"), "booked": N_("booking"), "reminder": N_("reminder"),
    "moved": N_("change of time"), "text": N_("link"), "webhook": N_("case system update"),
    "json": N_("machine-readable file"), "html": N_("readable document"),
    "good": N_("good"), "ok": N_("all working"), "poor": N_("working, but poorly"),
    "fail": N_("not working"),
    "open": N_("waiting for the practitioner"), "complete": N_("completed"),
    "en": N_("English"), "cy": N_("Welsh"), "ar": N_("Arabic"),
    "retention": N_("the retention schedule"), "abandoned": N_("everyone had gone"),
    "everyone left": N_("everyone left"),
    "link replaced": N_("a new link replaced it"), "subject access": N_("subject access request"),
    "totp": N_("authenticator app"), "passkey": N_("passkey"),
    "recovery_code": N_("recovery code"), "password": N_("password"),
    "invitations": N_("Links to join video sessions"),
    "participants": N_("People in video sessions, their joining times and answers"),
    "contacts": N_("Contacts and their records"), "messages": N_("Messages sent to clients"),
    "audit": N_("Audit entries (who accessed what)"), "recordings": N_("Recordings"),
}

# The settings behind each retention period.
SETTINGS: dict[str, str] = {
    "retention_contact_days": N_("Contacts and their records"),
    "retention_audit_days": N_("Audit entries (who accessed what)"),
    "retention_invitation_days": N_("Links to join video sessions"),
    "retention_participant_days": N_("People in video sessions, their joining times and answers"),
    "retention_message_days": N_("Messages sent to clients"),
}

# One row a retention sweep found ("participant event 12"): what it is, with its number.
ITEMS: dict[str, str] = {
    "invitation": N_("Link {n}"), "participant": N_("Person in a video session {n}"),
    "participant event": N_("Joining or leaving time {n}"),
    "checklist answers": N_("Safe-space check answers {n}"), "contact": N_("Contact {n}"),
    "message": N_("Message {n}"), "recording": N_("Recording {n}"),
}
_AUDIT_RANGE = re.compile(r"^audit entries seq (\d+) to (\d+)$")
_ISO = re.compile(r"^\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d(\.\d+)?)?([+-]\d\d:\d\d|Z)?)?$")


def _humane(code: str) -> str:
    """A code nobody wrote words for yet, as words rather than an identifier."""
    words = re.sub(r"[._]+", " ", code).strip()
    return words[:1].upper() + words[1:]


def action(code: str) -> str:
    """What an audit entry records, as a sentence."""
    return _(ACTIONS[code]) if code in ACTIONS else _humane(code)


def field(key: str) -> str:
    """The label of a field."""
    return _(FIELDS[key]) if key in FIELDS else _humane(key)


def setting(name: str) -> str:
    """What a retention setting governs."""
    return _(SETTINGS[name]) if name in SETTINGS else _humane(name)


def kind(name: str) -> str:
    """A kind of data on the retention schedule."""
    return _(VALUES[name]) if name in VALUES else _humane(name)


def item(label: str) -> str:
    """One row found by a retention sweep, in words."""
    found = _AUDIT_RANGE.match(label)
    if found:
        return _("Audit entries {first} to {last}").format(first=found[1], last=found[2])
    name, _sep, number = label.rpartition(" ")
    if name in ITEMS and number.isdigit():
        return _(ITEMS[name]).format(n=number)
    return _humane(label)


def when(moment: datetime | date, zone: ZoneInfo, *, seconds: bool = False) -> str:
    """A time in the organisation's zone, 24-hour clock, the month in words."""
    lang = current_language()
    locale = "en_GB" if lang == "en" else lang
    if isinstance(moment, datetime):
        pattern = "d MMMM y, HH:mm:ss" if seconds else "d MMMM y, HH:mm"
        return format_datetime(moment.astimezone(zone), pattern, locale=locale)
    return format_date(moment, "d MMMM y", locale=locale)


def value(raw: Any, zone: ZoneInfo, key: str = "") -> str:
    """A stored value in words: yes/no, times in the zone, codes translated, lists joined."""
    if raw is None or raw == "" or raw == [] or raw == {}:
        return _("None recorded") if key == "safeguarding_flags" else "—"
    if isinstance(raw, bool):
        return _("Yes") if raw else _("No")
    if isinstance(raw, enum.Enum):
        raw = raw.value
    if isinstance(raw, datetime | date):
        return when(raw, zone)
    if isinstance(raw, list):
        return ", ".join(value(v, zone) for v in raw)
    if isinstance(raw, dict):
        return "; ".join(f"{field(str(k))}: {value(v, zone, str(k))}"
                         for k, v in raw.items() if str(k) not in TECHNICAL)
    if isinstance(raw, str) and key.endswith("language"):
        return language(raw)
    if isinstance(raw, str):
        return _text(raw, zone)
    return str(raw)


def language(code: str) -> str:
    """A language's name in the reader's language ("pl" reads "Polish", "Pwyleg" ...)."""
    lang = current_language()
    try:
        return Locale.parse(code).get_display_name("en_GB" if lang == "en" else lang) or code
    except (ValueError, UnknownLocaleError):
        return code


def _text(raw: str, zone: ZoneInfo) -> str:
    if _ISO.match(raw):
        with suppress(ValueError):
            return when(datetime.fromisoformat(raw.replace("Z", "+00:00")), zone)
    if raw.startswith("outbox:") and raw[7:].isdigit():
        return _("a message from Rapport (message {n})").format(n=raw[7:])
    return _(VALUES[raw]) if raw in VALUES else raw


def details(detail: Mapping[str, Any], zone: ZoneInfo) -> list[tuple[str, str]]:
    """An audit entry's details as (label, words), technical ones left out."""
    return [(field(k), value(v, zone, key=k)) for k, v in detail.items()
            if k not in TECHNICAL and v is not None]
