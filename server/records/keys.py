"""Sections other features add to every contact record, by name."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

# A feature's section of a contact record: (database session, call session id) -> its facts.
SummaryProvider = Callable[[AsyncSession, int], Awaitable[Any]]

# "recording": the consent and recording summary (server/recordings/); see building.py.
RECORD_SUMMARIES: web.AppKey[dict[str, SummaryProvider]] = web.AppKey("record_summaries", dict)
