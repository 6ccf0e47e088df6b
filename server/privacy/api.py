"""The data protection endpoints of /api/v1 (handlers in `server/privacy/pages.py`)."""

from __future__ import annotations

from server.endpoints import Endpoint
from server.privacy import pages
from server.privacy.schemas import AccessEntryOut

E = Endpoint
ENDPOINTS: tuple[Endpoint, ...] = (
    E("GET", "/clients/{id}/access-log", pages.api_access_log, "api-access-log",
      "Who accessed a client's information, newest first (data protection officers; "
      "?before=SEQ for older entries)", response=AccessEntryOut, listing=True,
      tags=("data protection",)),
    E("GET", "/clients/{id}/subject-access", pages.export_json, "api-subject-access",
      "Everything held about a client, streamed as JSON (data protection officers; "
      "?reference= records the request's reference)", tags=("data protection",)),
    E("DELETE", "/audit/{id}", pages.api_audit_tamper, "api-audit-delete",
      "Audit entries can never be deleted: always refused, and the attempt logged",
      status=403, tags=("data protection",)),
    E("PATCH", "/audit/{id}", pages.api_audit_tamper, "api-audit-update",
      "Audit entries can never be changed: always refused, and the attempt logged",
      status=403, tags=("data protection",)),
)
