"""The webhook signature: HMAC-SHA256 over "<timestamp>.<body>" (docs/notifications.md)."""

from __future__ import annotations

import hashlib
import hmac

HEADER = "Rapport-Signature"
# A receiver should refuse a signature older than this (replays).
TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header's value: `t=<unix seconds>,v1=<hex HMAC-SHA256>`."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, now: int,
           tolerance: int = TOLERANCE_SECONDS) -> bool:
    """What a case system does with the header (the same code is in the documentation)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))
