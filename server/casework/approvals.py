"""Supervisor approval of remote contact: requested by the practitioner, decided by a
supervisor of their team with a written rationale and an expiry date.

An approval turns "needs approval" into "allowed" for its client until it expires; it never
overrides in-person-first (the policy rules decide that, `policies.decide.valid_approval`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from policies import Policy
from server.casework.caseload import get_client, visible_clients
from server.clock import now
from server.errors import N_, Conflict, Forbidden, Invalid, NotFound
from server.store import audit
from server.store.models import ApprovalRequest, ApprovalStatus, Client, Role, User

MIN_RATIONALE = 20


async def request(db: AsyncSession, http: web.Request, actor: User, client_id: int,
                  note: str) -> ApprovalRequest:
    client = await get_client(db, actor, client_id)
    if client.practitioner_id != actor.id:
        raise Forbidden(N_("Only the client's own practitioner can ask for approval."))
    pending = await db.scalar(select(ApprovalRequest.id).where(
        ApprovalRequest.client_id == client.id,
        ApprovalRequest.status == ApprovalStatus.PENDING))
    if pending is not None:
        raise Conflict(N_("An approval request for this client is already waiting for a "
                          "supervisor."))
    row = ApprovalRequest(client_id=client.id, requested_by_id=actor.id, requested_at=now(),
                          request_note=note[:2000], status=ApprovalStatus.PENDING,
                          rationale="")
    db.add(row)
    await db.flush()
    audit.record(db, http, "approval.request", "approval", row.id, client_id=client.id)
    return row


async def for_supervisor(db: AsyncSession, actor: User
                         ) -> Sequence[tuple[ApprovalRequest, Client]]:
    """Requests about clients the supervisor may see: pending first, then the newest."""
    visible = visible_clients(actor).with_only_columns(Client.id)
    rows = await db.execute(
        select(ApprovalRequest, Client).join(Client, Client.id == ApprovalRequest.client_id)
        .where(Client.id.in_(visible))
        .order_by(ApprovalRequest.status != ApprovalStatus.PENDING,
                  ApprovalRequest.requested_at.desc()).limit(200))
    return [(a, c) for a, c in rows]


async def decide(db: AsyncSession, http: web.Request, actor: User, approval_id: int, *,
                 approve: bool, rationale: str, expires_on: str, zone: ZoneInfo,
                 policy: Policy) -> ApprovalRequest:
    if Role.SUPERVISOR not in actor.roles:
        raise Forbidden(N_("Your role does not allow this."))
    row = await db.get(ApprovalRequest, approval_id, with_for_update=True)
    client = None if row is None else await db.scalar(
        visible_clients(actor).where(Client.id == row.client_id))
    if row is None or client is None:
        raise NotFound(N_("No approval request with id {id} is in your team."), id=approval_id)
    if row.status is not ApprovalStatus.PENDING:
        raise Conflict(N_("This request has already been decided."))
    if row.requested_by_id == actor.id or client.practitioner_id == actor.id:
        raise Forbidden(N_("You cannot approve remote contact for your own client."))
    rationale = rationale.strip()
    if len(rationale) < MIN_RATIONALE:
        raise Invalid(N_("Write the rationale in a sentence or two (at least {n} characters)."),
                      n=MIN_RATIONALE,
                      errors=[{"field": "rationale", "message": "too short"}])
    current = now()
    if approve:
        try:
            day = datetime.strptime(expires_on, "%Y-%m-%d").date()
        except ValueError:
            raise Invalid(N_("Give the expiry as a date, for example 2026-12-31."),
                          errors=[{"field": "expires_on", "message": "not a date"}]) from None
        expires = datetime.combine(day, time(23, 59), zone)
        longest = timedelta(days=policy.approval.max_validity_days)
        if expires <= current or expires - current > longest:
            raise Invalid(N_("The expiry must be after today and at most {days} days away."),
                          days=policy.approval.max_validity_days,
                          errors=[{"field": "expires_on", "message": "out of range"}])
        row.expires_at = expires
    row.status = ApprovalStatus.APPROVED if approve else ApprovalStatus.REFUSED
    row.decided_by_id, row.decided_at, row.rationale = actor.id, current, rationale
    audit.record(db, http, "approval.approve" if approve else "approval.refuse", "approval",
                 row.id, client_id=client.id)
    return row


async def pending_for(db: AsyncSession, client_id: int) -> ApprovalRequest | None:
    return await db.scalar(select(ApprovalRequest).where(
        ApprovalRequest.client_id == client_id,
        ApprovalRequest.status == ApprovalStatus.PENDING))
