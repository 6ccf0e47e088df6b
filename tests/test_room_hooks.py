"""The hooks on the rooms survive the end of a session.

Found while moving the code (#12): `Rooms._ended` used to reset `on_change` to None, so after
the first session on a process ended, the recording desk was no longer asked to decide after
room changes — a late joiner in any later session would not have paused recording.
"""

from __future__ import annotations

from typing import Any

from signalling.bus import InProcessBus
from signalling.rooms import Rooms


async def test_a_session_ending_keeps_the_recording_desk_listening() -> None:
    rooms = Rooms(None, InProcessBus(), None)  # type: ignore[arg-type]  # no I/O below
    changed: list[int] = []
    ended: list[int] = []

    async def on_change(appointment_id: int) -> None:
        changed.append(appointment_id)

    async def on_end(appointment_id: int) -> None:
        ended.append(appointment_id)

    rooms.on_change = on_change
    rooms.session_ended.append(on_end)
    await rooms._ended(7)
    assert ended == [7]
    assert rooms.on_change is on_change
    hooks: Any = rooms.on_change
    await hooks(8)
    assert changed == [8]
