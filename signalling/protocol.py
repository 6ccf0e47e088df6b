"""The signalling protocol, version 1: typed messages, error codes and close codes.

The browser's messages are pydantic models in one discriminated union on `type`; what the
server sends is modelled in `signalling/outbound.py`. `docs/signalling.schema.json` is
generated from both (`python -m signalling.schema`) and a test keeps the two the same.
`docs/signalling.md` explains the protocol with examples.
"""

from __future__ import annotations

import enum
import json
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from signalling.chat_protocol import ChatAsk, ChatSend, RunningLate

VERSION = 1
# A text message larger than this is answered `message_too_large` and dropped.
MAX_MESSAGE_BYTES = 64 * 1024
# A frame larger than this closes the connection (aiohttp answers 1009).
MAX_FRAME_BYTES = 1024 * 1024
SDP_MAX = 60 * 1024


class ErrorCode(enum.StrEnum):
    BAD_JSON = "bad_json"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_MESSAGE = "invalid_message"
    MESSAGE_TOO_LARGE = "message_too_large"
    RATE_LIMITED = "rate_limited"
    HELLO_REQUIRED = "hello_required"
    HELLO_REPEATED = "hello_repeated"
    UNSUPPORTED_VERSION = "unsupported_version"
    NOT_ALLOWED = "not_allowed"
    NOT_ADMITTED = "not_admitted"
    UNKNOWN_PARTICIPANT = "unknown_participant"
    ADMISSION_REFUSED = "admission_refused"
    BAD_CHECKLIST = "bad_checklist"
    SESSION_ENDED = "session_ended"
    # Recording (docs/recording.md)
    RECORDING_NOT_ALLOWED = "recording_not_allowed"
    RECORDING_UNAVAILABLE = "recording_unavailable"
    RECORDING_ACTIVE = "recording_active"
    UNKNOWN_REQUEST = "unknown_request"
    WORDING_MISMATCH = "wording_mismatch"
    CONSENT_REPEATED = "consent_repeated"
    RECORDER_REFUSED = "recorder_refused"
    # Leg health (issue #13)
    UNKNOWN_LEG = "unknown_leg"


class Close(enum.IntEnum):
    LEFT = 1000
    TOO_BIG = 1009
    BAD_HANDSHAKE = 4400
    UNAUTHENTICATED = 4401
    FORBIDDEN = 4403
    NOT_FOUND = 4404
    HEARTBEAT = 4408
    REPLACED = 4409
    GONE = 4410
    FLOOD = 4429
    DRAINING = 4503  # this process is stopping: reconnect (to any process) at once


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


ParticipantId = Annotated[int, Field(ge=1, le=2**53)]


class Hello(_Message):
    type: Literal["hello"]
    version: int
    appointment: ParticipantId | None = None
    resume: bool = False


class Checklist(_Message):
    type: Literal["checklist"]
    answers: dict[Annotated[str, Field(max_length=100)], bool] = Field(max_length=50)
    location: Literal["premises", "home"] | None = None


class Admit(_Message):
    type: Literal["admit"]
    participant: ParticipantId


class Deny(_Message):
    type: Literal["deny"]
    participant: ParticipantId
    reason: str | None = Field(default=None, max_length=500)


class Remove(_Message):
    type: Literal["remove"]
    participant: ParticipantId


class End(_Message):
    type: Literal["end"]


# Which peer connection of a pair a description or candidate belongs to: the offering side
# starts a fresh one (a larger number) when a negotiation cannot be mended (issue #13).
Generation = Annotated[int, Field(ge=0, le=2**53)]


class Offer(_Message):
    type: Literal["offer"]
    to: ParticipantId
    sdp: str = Field(max_length=SDP_MAX)
    generation: Generation | None = None


class Answer(_Message):
    type: Literal["answer"]
    to: ParticipantId
    sdp: str = Field(max_length=SDP_MAX)
    generation: Generation | None = None


class IceCandidate(_Message):
    model_config = ConfigDict(extra="forbid", strict=True)
    candidate: str = Field(max_length=1024)
    sdpMid: str | None = Field(default=None, max_length=64)  # noqa: N815 (WebRTC's name)
    sdpMLineIndex: int | None = Field(default=None, ge=0, le=1024)  # noqa: N815
    usernameFragment: str | None = Field(default=None, max_length=256)  # noqa: N815


class Candidate(_Message):
    type: Literal["candidate"]
    to: ParticipantId
    candidate: IceCandidate | None
    generation: Generation | None = None


class Media(_Message):
    type: Literal["media"]
    audio: bool
    video: bool


class Leave(_Message):
    type: Literal["leave"]


class Ping(_Message):
    type: Literal["ping"]


class PeerStats(_Message):
    """One peer connection's statistics since the previous report (browser getStats)."""

    peer: ParticipantId
    rtt_ms: int | None = Field(default=None, ge=0, le=60_000)
    packets_received: int = Field(default=0, ge=0, le=10_000_000)
    packets_lost: int = Field(default=0, ge=0, le=10_000_000)
    kbps_in: int = Field(default=0, ge=0, le=100_000)
    kbps_out: int = Field(default=0, ge=0, le=100_000)


class Stats(_Message):
    """Call quality, about every 10 s while in the call; stored aggregated per person."""

    type: Literal["stats"]
    peers: list[PeerStats] = Field(min_length=1, max_length=8)


# --- leg health (issue #13) ---

LegState = Literal["connected", "checking", "failed"]
CandidateType = Literal["host", "srflx", "prflx", "relay"]


class LegReport(_Message):
    """The state of this page's peer connection to `peer`."""

    peer: ParticipantId
    state: LegState
    candidate: CandidateType | None = None


class Legs(_Message):
    """Each of this page's peer connections: on every change, at most once a second, and
    every 10 s anyway."""

    type: Literal["legs"]
    legs: list[LegReport] = Field(max_length=8)


class Repair(_Message):
    """The practitioner's "Try again" for the leg between `a` and `b`."""

    type: Literal["repair"]
    a: ParticipantId
    b: ParticipantId


# --- recording (docs/recording.md) ---

RequestId = Annotated[int, Field(ge=1, le=2**53)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class Record(_Message):
    """The practitioner asks everyone present whether the session may be recorded."""

    type: Literal["record"]


class Consent(_Message):
    """A person's answer to the consent prompt of `request`, naming the wording they saw."""

    type: Literal["consent"]
    request: RequestId
    answer: Literal["yes", "no"]
    wording: Sha256


class Withdraw(_Message):
    """Stop the recording of `request` now (anyone present, at any time)."""

    type: Literal["withdraw"]
    request: RequestId


class RecorderOffer(_Message):
    """A complete offer (all candidates gathered) for the recorder's own peer connection."""

    type: Literal["recorder-offer"]
    request: RequestId
    sdp: str = Field(max_length=SDP_MAX)


Inbound = Annotated[
    Hello | Checklist | Admit | Deny | Remove | End | Offer | Answer | Candidate | Media | Leave
    | Ping | Stats | Record | Consent | Withdraw | RecorderOffer | Legs | Repair | RunningLate
    | ChatSend | ChatAsk,
    Field(discriminator="type"),
]
INBOUND_TYPES = frozenset({"hello", "checklist", "admit", "deny", "remove", "end", "offer",
                           "answer", "candidate", "media", "leave", "ping", "stats", "record",
                           "consent", "withdraw", "recorder-offer", "legs", "repair",
                           "running-late", "chat", "chat-history"})
_adapter: TypeAdapter[Inbound] = TypeAdapter(Inbound)


class ProtocolError(Exception):
    """A message that cannot be acted on; becomes an `error` message to its sender."""

    def __init__(self, code: ErrorCode, message: str, *, ref: str | None = None,
                 **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref
        self.extra = extra

    def to_message(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "error", "code": self.code.value, "message": self.message}
        if self.ref is not None:
            out["ref"] = self.ref
        out.update(self.extra)
        return out


def parse(text: str, max_bytes: int = MAX_MESSAGE_BYTES) -> Inbound:
    """One message from its JSON text, or `ProtocolError` naming exactly what is wrong."""
    data = decode(text, max_bytes)
    return validate(data, data["type"])


def decode(text: str, max_bytes: int = MAX_MESSAGE_BYTES) -> dict[str, Any]:
    """The JSON object of a message whose `type` is known, or `ProtocolError` (too large,
    not JSON, not an object, unknown type); `validate` checks the rest."""
    # Four bytes at most per character: most messages need no encoding to be measured.
    if len(text) * 4 > max_bytes and len(text.encode("utf-8")) > max_bytes:
        raise ProtocolError(ErrorCode.MESSAGE_TOO_LARGE,
                            f"messages may be at most {max_bytes} bytes")
    try:
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:  # NaN, huge integers, deep nesting: the stdlib's say
            data = json.loads(text)
    except ValueError:
        raise ProtocolError(ErrorCode.BAD_JSON, "the message is not valid JSON") from None
    except RecursionError:  # "[" * 5000: deeper than any message of this protocol
        raise ProtocolError(ErrorCode.BAD_JSON, "the message is nested too deeply") from None
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.BAD_JSON, "the message must be a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in INBOUND_TYPES:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE,
                            f"unknown message type {kind!r}" if kind is not None
                            else "the message has no type")
    return data


def validate(data: dict[str, Any], kind: str) -> Inbound:
    """The typed message from `decode`'s object, or `ProtocolError` INVALID_MESSAGE."""
    try:
        return _adapter.validate_python(data)
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in err["loc"][1:]) or "type",
                   "problem": err["msg"]} for err in exc.errors(include_url=False)]
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, f"the {kind} message is not valid",
                            ref=kind, errors=errors) from None


# --- what the server sends (its models: signalling/outbound.py) ---------------------------

def error(code: ErrorCode, message: str, **extra: Any) -> dict[str, Any]:
    return ProtocolError(code, message, **extra).to_message()

