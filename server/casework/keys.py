"""The policy in force per organisation (stored versions, else the shipped default)."""

from __future__ import annotations

from aiohttp import web

from server.casework.policy_versions import PolicyStore

POLICIES: web.AppKey[PolicyStore] = web.AppKey("policies")
