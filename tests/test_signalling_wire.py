"""The relay's fast path (signalling/wire.py) agrees with the models: it forwards exactly what
`model_dump` gives for every message the models accept, and leaves every other message to the
models (so its typed error is the same as ever)."""

from __future__ import annotations

from typing import Any

import pytest

from signalling import protocol, wire
from signalling.protocol import SDP_MAX, ProtocolError

ICE = {"candidate": "candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host", "sdpMid": "0",
       "sdpMLineIndex": 0, "usernameFragment": "abc"}
MESSAGES: list[dict[str, Any]] = [
    {"type": "offer", "to": 2, "sdp": "v=0"},
    {"type": "offer", "to": 2, "sdp": "v=0", "generation": 3},
    {"type": "offer", "to": 2, "sdp": "v=0", "generation": None},
    {"type": "answer", "to": 2**53, "sdp": "x" * SDP_MAX},
    {"type": "answer", "to": 2, "sdp": "x" * (SDP_MAX + 1)},
    {"type": "answer", "to": 2, "sdp": 5},
    {"type": "answer", "to": 2},
    {"type": "offer", "to": 0, "sdp": "v=0"},
    {"type": "offer", "to": 2**53 + 1, "sdp": "v=0"},
    {"type": "offer", "to": True, "sdp": "v=0"},
    {"type": "offer", "to": 2.0, "sdp": "v=0"},
    {"type": "offer", "to": "2", "sdp": "v=0"},
    {"type": "offer", "sdp": "v=0"},
    {"type": "offer", "to": 2, "sdp": "v=0", "generation": -1},
    {"type": "offer", "to": 2, "sdp": "v=0", "generation": False},
    {"type": "offer", "to": 2, "sdp": "v=0", "extra": 1},
    {"type": "candidate", "to": 2, "candidate": ICE},
    {"type": "candidate", "to": 2, "candidate": ICE, "generation": 0},
    {"type": "candidate", "to": 2, "candidate": None},
    {"type": "candidate", "to": 2},
    {"type": "candidate", "to": 2, "candidate": {"candidate": "c"}},
    {"type": "candidate", "to": 2, "candidate": {**ICE, "sdpMid": None, "sdpMLineIndex": None,
                                                 "usernameFragment": None}},
    {"type": "candidate", "to": 2, "candidate": {**ICE, "candidate": "c" * 1025}},
    {"type": "candidate", "to": 2, "candidate": {**ICE, "sdpMid": "m" * 65}},
    {"type": "candidate", "to": 2, "candidate": {**ICE, "sdpMLineIndex": 1025}},
    {"type": "candidate", "to": 2, "candidate": {**ICE, "sdpMLineIndex": True}},
    {"type": "candidate", "to": 2, "candidate": {**ICE, "usernameFragment": "u" * 257}},
    {"type": "candidate", "to": 2, "candidate": {**ICE, "foundation": "1"}},
    {"type": "candidate", "to": 2, "candidate": {"sdpMid": "0"}},
    {"type": "candidate", "to": 2, "candidate": "candidate:1"},
    {"type": "candidate", "to": 2, "candidate": ICE, "sdp": "v=0"},
]


@pytest.mark.parametrize("message", MESSAGES)
def test_the_fast_path_forwards_what_the_models_would(message: dict[str, Any]) -> None:
    kind = message["type"]
    fast = wire.relayed(dict(message), kind, 7)
    try:
        model = protocol.validate(dict(message), kind)
    except ProtocolError as exc:
        assert fast is None, (message, exc.to_message())
        return
    if fast is None:  # the slow path may accept more; it never forwards anything else
        return
    out = model.model_dump(exclude={"to"}, exclude_none=kind != "candidate")
    out["from"] = 7
    assert fast == (model.to, out)
    assert wire.dumps(fast[1]) == wire.dumps(out)  # the same keys in the same order


def test_decode_keeps_the_standard_librarys_verdicts() -> None:
    for text, code in [("{", "bad_json"), ("[" * 5000, "bad_json"), ("[]", "bad_json"),
                       ('{"type": "nope"}', "unknown_type"), ("{}", "unknown_type")]:
        with pytest.raises(ProtocolError) as caught:
            protocol.decode(text)
        assert caught.value.code == code
    assert protocol.decode('{"type": "ping", "n": NaN, "big": 123456789012345678901234}')
    with pytest.raises(ProtocolError, match="at most 2048 bytes"):
        protocol.decode('{"type": "ping", "pad": "' + "é" * 1100 + '"}', 2048)


def test_what_browsers_send_takes_the_fast_path() -> None:
    for index in (0, 1, 3, 16, 17, 18, 21):
        message = MESSAGES[index]
        assert wire.relayed(dict(message), message["type"], 7) is not None, message
