"""What the server sends on the signalling WebSocket, as pydantic models (for the schema)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from signalling.chat_protocol import ChatHistory, ChatOut, RunningLateOut
from signalling.protocol import ErrorCode


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MediaState(_Out):
    audio: bool
    video: bool


class ChecklistState(_Out):
    complete: bool
    passed: bool
    failed: list[str]
    advisory: list[str]
    answers: dict[str, bool]


class FailureState(_Out):
    """Why the person's call page last could not get going (server/failure.py)."""

    reason: Literal["media_denied", "media_missing", "signalling_unreachable", "ice_failed"]
    at: str


class PrecallState(_Out):
    """The person's latest pre-call check (inclusion, #7): shown next to the checklist."""

    verdict: Literal["good", "fair", "weak", "failed", "skipped"]
    rtt_ms: int | None
    loss_percent: int | None
    bitrate_kbps: int | None
    camera: bool
    microphone: bool
    at: str
    failure: FailureState | None = None


class RosterEntry(_Out):
    id: int
    role: Literal["practitioner", "client", "interpreter"]
    name: str
    state: Literal["waiting", "admitted", "denied", "left", "removed", "ended"]
    connected: bool
    epoch: int
    media: MediaState
    waiting_since: str | None = None
    checklist: ChecklistState | None = None
    precall: PrecallState | None = Field(default=None, description="Only to the practitioner.")


class Roster(_Out):
    type: Literal["roster"]
    version: int = Field(description="Grows with every change; ignore a roster older than "
                         "the last one you applied.")
    participants: list[RosterEntry]


class ChecklistItemOut(_Out):
    id: str
    wording: str
    blocking: bool


class ChecklistOffer(_Out):
    role: str
    items: list[ChecklistItemOut]
    home_items: list[ChecklistItemOut] | None = None
    answered: bool


class You(_Out):
    id: int
    role: Literal["practitioner", "client", "interpreter"]
    name: str
    state: Literal["waiting", "admitted", "denied", "left", "removed", "ended"]


class SessionInfo(_Out):
    appointment: int
    state: Literal["open", "live", "ended"]


class Welcome(_Out):
    type: Literal["welcome"]
    version: int
    you: You
    session: SessionInfo
    ice_servers: list[dict[str, Any]]
    ice_transport_policy: Literal["all", "relay"]
    heartbeat_seconds: int
    checklist: ChecklistOffer | None


class Alternative(_Out):
    id: str
    text: str


class ChecklistResult(_Out):
    type: Literal["checklist-result"]
    passed: bool
    complete: bool
    failed: list[str]
    advisory: list[str]
    alternatives: list[Alternative]


class ReasonOut(_Out):
    rule: str
    outcome: str
    title: str
    message: str
    remedy: str


class ErrorOut(_Out):
    type: Literal["error"]
    code: ErrorCode
    message: str
    ref: str | None = None
    reasons: list[ReasonOut] | None = None
    errors: list[dict[str, str]] | None = None


class Relayed(_Out):
    type: Literal["offer", "answer"]
    sdp: str
    from_: int = Field(alias="from")
    generation: int | None = Field(default=None, description="The sender's peer connection.")


class RelayedCandidate(_Out):
    type: Literal["candidate"]
    candidate: dict[str, Any] | None
    from_: int = Field(alias="from")
    generation: int | None = Field(default=None, description="The sender's peer connection.")


class MediaOut(_Out):
    type: Literal["media"]
    audio: bool
    video: bool
    from_: int = Field(alias="from")


class Waiting(_Out):
    type: Literal["waiting"]
    since: str


class Notice(_Out):
    type: Literal["admitted", "denied", "removed", "ended", "replaced", "pong"]


class LinkLocked(_Out):
    type: Literal["link-locked"]
    participant: int | None
    name: str


class ConsentWording(_Out):
    version: str
    language: str
    sha256: str = Field(description="Send this back in `consent.wording`.")
    title: str
    paragraphs: list[str]
    question: str


class ConsentPrompt(_Out):
    type: Literal["consent-prompt"]
    request: int
    wording: ConsentWording


class RecordingStatus(_Out):
    type: Literal["recording"]
    request: int | None
    state: Literal["asking", "recording", "paused", "stopped", "failed"]
    waiting_for: list[int] = Field(description="Present people who have not said yes yet.")
    reason: str | None = None
    message: str | None = None


class RecorderAnswer(_Out):
    type: Literal["recorder-answer"]
    request: int
    sdp: str


class LegOut(_Out):
    a: int
    b: int
    state: Literal["connected", "checking", "failed"]
    since: str = Field(description="ISO 8601 UTC: when the leg came to this state.")
    candidates: dict[str, str | None] = Field(
        description="Participant id → the candidate type of their selected pair.")


class LegsOut(_Out):
    """The room's legs as the pages report them (practitioner only)."""

    type: Literal["legs"]
    legs: list[LegOut]


class RepairOut(_Out):
    """Start the leg to `peer` afresh (the practitioner's "Try again")."""

    type: Literal["repair"]
    peer: int


Outbound = Annotated[
    Welcome | Roster | ChecklistResult | ErrorOut | Relayed | RelayedCandidate | MediaOut
    | Waiting | Notice | LinkLocked | ConsentPrompt | RecordingStatus | RecorderAnswer
    | LegsOut | RepairOut | RunningLateOut | ChatOut | ChatHistory,
    Field(discriminator="type"),
]
