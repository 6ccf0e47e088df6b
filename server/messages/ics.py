"""The "add to calendar" file (RFC 5545) sent with each email about an appointment."""

from __future__ import annotations

from datetime import datetime

from server.clock import UTC


def _escape(text: str) -> str:
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n"))


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space (RFC 5545 3.1)."""
    out: list[str] = []
    current = b""
    for char in line:
        encoded = char.encode("utf-8")
        if len(current) + len(encoded) > (75 if not out else 74):
            out.append(current.decode("utf-8"))
            current = b""
        current += encoded
    out.append(current.decode("utf-8"))
    return "\r\n ".join(out)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def calendar(*, uid: str, start: datetime, end: datetime, title: str, description: str,
             sequence: int, stamp: datetime, organiser: str, cancelled: bool = False) -> bytes:
    """One event; a later `sequence` with the same `uid` updates (or cancels) it."""
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Rapport//Probation appointments//EN",
        f"METHOD:{'CANCEL' if cancelled else 'REQUEST'}", "BEGIN:VEVENT", f"UID:{uid}",
        f"SEQUENCE:{sequence}", f"DTSTAMP:{_utc(stamp)}",
        f"ORGANIZER:mailto:{organiser}", f"DTSTART:{_utc(start)}",
        f"DTEND:{_utc(end)}", f"SUMMARY:{_escape(title)}",
        f"DESCRIPTION:{_escape(description)}",
        f"STATUS:{'CANCELLED' if cancelled else 'CONFIRMED'}", "END:VEVENT", "END:VCALENDAR",
    ]
    return ("\r\n".join(_fold(line) for line in lines) + "\r\n").encode("utf-8")
