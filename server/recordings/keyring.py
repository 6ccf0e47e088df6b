"""The recording keys of the settings, as the ring sealed files are written and opened with."""

from __future__ import annotations

from media.sealed import KeyRing
from server.settings import Settings, decode_recording_keys


def parse_keys(entries: tuple[str, ...], current: str) -> KeyRing:
    """Keys from "id:base64" entries; `ValueError` naming the bad entry."""
    return KeyRing(decode_recording_keys(entries, current), current)


def key_ring(settings: Settings) -> KeyRing:
    """The ring of the configured keys (validated at start-up)."""
    return parse_keys(settings.recording_keys, settings.recording_key_id)
