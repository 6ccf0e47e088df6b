"""How links reach people: the notifier (log-only by default)."""

from __future__ import annotations

from aiohttp import web

from server.joining.notify import Notifier

NOTIFIER: web.AppKey[Notifier] = web.AppKey("notifier")
