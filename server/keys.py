"""Every piece of application state, each under a typed AppKey."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    import jinja2
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from server.i18n import Catalogues
    from server.settings import Settings

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
ENGINE: web.AppKey[AsyncEngine] = web.AppKey("engine")
DB: web.AppKey[async_sessionmaker[AsyncSession]] = web.AppKey("db")
JINJA: web.AppKey[jinja2.Environment] = web.AppKey("jinja")
CATALOGUES: web.AppKey[Catalogues] = web.AppKey("catalogues")
