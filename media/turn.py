"""ICE configuration: TURN credentials for browsers (the TURN REST API scheme that coturn
checks), and the configuration of the server's own aiortc peers (`server_peer_config`).

coturn started with `--use-auth-secret --static-auth-secret=SECRET` accepts any username of the
form `EXPIRY:NAME` (EXPIRY in Unix seconds) whose password is base64(HMAC-SHA1(SECRET,
username)), as long as EXPIRY is still in the future. Rapport holds the same secret
(`RAPPORT_TURN_SECRET`) and mints such credentials per participant when they join a call, so
no TURN account is ever stored and a leaked credential stops working after
`RAPPORT_TURN_TTL_SECONDS`. See docs/security.md, "TURN credentials".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

from aiortc import RTCConfiguration, RTCIceServer

__all__ = ["IceSettings", "TurnCredentials", "ice_servers", "ice_transport_policy",
           "server_peer_config", "turn_credentials"]


class IceSettings(Protocol):
    """The settings the ICE configuration is made from (Rapport's `Settings` has them)."""

    @property
    def stun_urls(self) -> tuple[str, ...]: ...
    @property
    def turn_urls(self) -> tuple[str, ...]: ...
    @property
    def turn_secret(self) -> str: ...
    @property
    def turn_ttl_seconds(self) -> int: ...
    @property
    def force_relay(self) -> bool: ...


@dataclass(frozen=True)
class TurnCredentials:
    """What RTCIceServer wants (`username`, `credential`) and when coturn stops accepting it."""

    username: str
    credential: str
    expires_at: datetime


def turn_credentials(secret: str, participant: str, ttl_seconds: int,
                     now: datetime) -> TurnCredentials:
    """Credentials valid for `ttl_seconds` from `now` (timezone-aware), named after
    `participant` (e.g. "p42"; no ':', which separates the expiry from the name)."""
    if not secret:
        raise ValueError("TURN secret is empty")
    if not participant or ":" in participant:
        raise ValueError(f"TURN participant name must be non-empty without ':', got "
                         f"{participant!r}")
    if ttl_seconds <= 0:
        raise ValueError(f"TURN credentials need a positive lifetime, got {ttl_seconds}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    expiry = int(now.timestamp()) + ttl_seconds
    username = f"{expiry}:{participant}"
    digest = hmac.new(secret.encode("utf-8"), username.encode("utf-8"), hashlib.sha1).digest()
    return TurnCredentials(username=username, credential=base64.b64encode(digest).decode("ascii"),
                           expires_at=datetime.fromtimestamp(expiry, UTC))


def ice_servers(settings: IceSettings, participant: str, now: datetime) -> list[dict[str, object]]:
    """The RTCIceServer list for one participant's browser: STUN (if configured), then TURN
    (if configured) with freshly minted credentials."""
    servers: list[dict[str, object]] = []
    if settings.stun_urls:
        servers.append({"urls": list(settings.stun_urls)})
    if settings.turn_urls:
        creds = turn_credentials(settings.turn_secret, participant, settings.turn_ttl_seconds,
                                 now)
        servers.append({"urls": list(settings.turn_urls), "username": creds.username,
                        "credential": creds.credential})
    return servers


def ice_transport_policy(settings: IceSettings) -> Literal["all", "relay"]:
    """RTCConfiguration.iceTransportPolicy: "relay" sends media only through TURN."""
    return "relay" if settings.force_relay else "all"


def server_peer_config(stun_urls: tuple[str, ...] = ()) -> RTCConfiguration:
    """RTCConfiguration for the server's own peers (recorder, connection test): the
    deployment's STUN servers only, none when none are configured. Never aiortc's default,
    which asks Google's public STUN server: a lookup and a packet to a third party for every
    peer, and where DNS does not answer, up to five seconds before the answer (and the
    recording) can start. Browsers reach these peers on the server's own addresses, or
    through their TURN relay; the server needs no TURN of its own."""
    return RTCConfiguration(iceServers=[RTCIceServer(urls=list(stun_urls))] if stun_urls else [])
