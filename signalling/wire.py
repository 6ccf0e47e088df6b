"""The relay's fast path: offer/answer/candidate checked by hand-written checks instead of the
pydantic union, and JSON out with orjson (issue #17).

A check here accepts only messages that `signalling.protocol` accepts too, and builds exactly
what `model_dump` would; anything it is not sure of (a missing field, a wrong type, a value out
of range, an unknown key) goes the slow way through `protocol.parse`, so a malformed message
gets the same typed error as ever. The bounds are the models' own (`protocol.Offer` etc.).
"""

from __future__ import annotations

from typing import Any

import orjson

from signalling.protocol import SDP_MAX

_ID_MAX = 2**53
_SDP_KEYS = frozenset({"type", "to", "sdp", "generation"})
_CANDIDATE_KEYS = frozenset({"type", "to", "candidate", "generation"})
_ICE_KEYS = frozenset({"candidate", "sdpMid", "sdpMLineIndex", "usernameFragment"})


def dumps(message: dict[str, Any]) -> str:
    """A message as JSON text (orjson: several times faster than `json.dumps`)."""
    return orjson.dumps(message).decode()


def _id(value: Any, low: int) -> bool:
    return type(value) is int and low <= value <= _ID_MAX  # strict: no bool, no float


def _text(value: Any, longest: int) -> bool:
    return type(value) is str and len(value) <= longest


def _optional_text(value: Any, longest: int) -> bool:
    return value is None or (type(value) is str and len(value) <= longest)


def relayed(data: dict[str, Any], kind: str, sender: int) -> tuple[int, dict[str, Any]] | None:
    """For a valid offer, answer or candidate: (addressee, the message to forward, with
    `from` and without `to`) exactly as the models would give it; else None (slow path)."""
    to: Any = data.get("to")  # an int once `_id` says so
    generation = data.get("generation")
    if not _id(to, 1) or not (generation is None or _id(generation, 0)):
        return None
    if kind == "candidate":
        if not data.keys() <= _CANDIDATE_KEYS or "candidate" not in data:
            return None
        ice = data["candidate"]
        if ice is not None:
            if type(ice) is not dict or not ice.keys() <= _ICE_KEYS:
                return None
            index = ice.get("sdpMLineIndex")
            mid, fragment = ice.get("sdpMid"), ice.get("usernameFragment")
            if (not _text(ice.get("candidate"), 1024) or not _optional_text(mid, 64)
                    or not _optional_text(fragment, 256)
                    or not (index is None or (type(index) is int and 0 <= index <= 1024))):
                return None
            ice = {"candidate": ice["candidate"], "sdpMid": mid, "sdpMLineIndex": index,
                   "usernameFragment": fragment}
        return to, {"type": kind, "candidate": ice, "generation": generation, "from": sender}
    if not data.keys() <= _SDP_KEYS or not _text(data.get("sdp"), SDP_MAX):
        return None
    out: dict[str, Any] = {"type": kind, "sdp": data["sdp"]}
    if generation is not None:
        out["generation"] = generation
    out["from"] = sender
    return to, out
