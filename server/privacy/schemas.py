"""What the access-log endpoint returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from server.schemas import Output


class AccessEntryOut(Output):
    """One entry of a client's access log: who did what, when, from where, and why."""

    seq: int
    at: datetime
    actor_id: int | None
    actor_name: str | None
    action: str
    target_type: str
    target_id: str | None
    address: str | None
    detail: dict[str, Any]
