"""Contact records on the web: the record page, outcome and notes, exports, the dashboard."""

from __future__ import annotations

from aiohttp import web

from server import keys, records


def setup(app: web.Application) -> None:
    """The records' lifetime (crash recovery, sweeper) and their routes."""
    # Other features add their sections here before start-up ("recording").
    app[keys.RECORD_SUMMARIES] = {}
    app.cleanup_ctx.append(records.records_ctx)
