"""The OpenID Connect relying party: discovery, the authorisation request (code flow with
PKCE S256, `state`, `nonce`), the code exchange, and the ID token checked against the
provider's published keys (signature, issuer, audience, expiry, nonce).

Authlib builds and checks the protocol pieces (PKCE challenge, request URI, ID token claims),
its JOSE library `joserfc` checks signatures; the HTTP calls go through aiohttp, Rapport's
own client, so no second HTTP stack is needed.
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    DecodeError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
    MissingKeyError,
)
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from server import keys
from server.clock import now
from server.settings import Settings
from server.staff.sso import Reason, SsoError

CALLBACK = "/login/sso/callback"
SCOPES = "openid email profile"
METADATA_SECONDS = 3600  # discovery and keys are fetched again after an hour
LEEWAY_SECONDS = 60  # clock skew allowed between Rapport and the provider
TIMEOUT = aiohttp.ClientTimeout(total=10)


@dataclass(frozen=True)
class Provider:
    """What the provider's discovery document says, as far as Rapport uses it."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: tuple[str, ...]
    end_session_endpoint: str | None
    userinfo_endpoint: str | None


def _provider(doc: dict[str, Any], issuer: str) -> Provider:
    if doc.get("issuer") != issuer:
        raise SsoError(Reason.CLAIMS, f"discovery names issuer {doc.get('issuer')!r}")
    try:
        found = Provider(issuer, str(doc["authorization_endpoint"]), str(doc["token_endpoint"]),
                         str(doc["jwks_uri"]),
                         tuple(a for a in doc.get("id_token_signing_alg_values_supported")
                               or ["RS256"] if a != "none"),
                         doc.get("end_session_endpoint"), doc.get("userinfo_endpoint"))
    except KeyError as missing:
        raise SsoError(Reason.UNREACHABLE, f"discovery lacks {missing}") from None
    methods = doc.get("code_challenge_methods_supported")
    if methods is not None and "S256" not in methods:
        raise SsoError(Reason.PROVIDER_ERROR, "the provider does not support PKCE S256")
    return found


class OidcClient:
    """One provider, its discovery document and keys cached for an hour."""

    def __init__(self, settings: Settings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.http = http
        self._provider: tuple[float, Provider] | None = None
        self._keys: tuple[float, KeySet] | None = None

    @property
    def redirect_uri(self) -> str:
        return self.settings.base_url.rstrip("/") + CALLBACK

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with self.http.get(url, timeout=TIMEOUT) as response:
                if response.status != 200:
                    raise SsoError(Reason.UNREACHABLE, f"{url} answered {response.status}")
                data = await response.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise SsoError(Reason.UNREACHABLE, f"{url}: {type(exc).__name__}") from None
        if not isinstance(data, dict):
            raise SsoError(Reason.UNREACHABLE, f"{url} did not answer a JSON object")
        return data

    async def provider(self) -> Provider:
        """The discovered provider (`<issuer>/.well-known/openid-configuration`)."""
        if self._provider is not None and time.monotonic() - self._provider[0] < METADATA_SECONDS:
            return self._provider[1]
        issuer = self.settings.sso_issuer
        doc = await self._get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
        found = _provider(doc, issuer)
        self._provider = (time.monotonic(), found)
        return found

    async def key_set(self, provider: Provider, force: bool = False) -> KeySet:
        if not force and self._keys is not None \
                and time.monotonic() - self._keys[0] < METADATA_SECONDS:
            return self._keys[1]
        try:
            found = KeySet.import_key_set(await self._get_json(provider.jwks_uri))  # type: ignore[arg-type]
        except JoseError as exc:
            raise SsoError(Reason.PROVIDER_ERROR, f"jwks: {exc.error}") from None
        self._keys = (time.monotonic(), found)
        return found

    def authorize_url(self, provider: Provider, state: str, nonce: str, verifier: str) -> str:
        """Where the browser goes to sign in: code flow, PKCE S256, state and nonce."""
        url: str = add_params_to_uri(provider.authorization_endpoint, [
            ("response_type", "code"), ("client_id", self.settings.sso_client_id),
            ("redirect_uri", self.redirect_uri), ("scope", SCOPES), ("state", state),
            ("nonce", nonce), ("code_challenge", create_s256_code_challenge(verifier)),
            ("code_challenge_method", "S256"), ("max_age", str(self.max_age)),
        ])
        return url

    @property
    def max_age(self) -> int:
        """The oldest provider sign-in accepted: a Rapport session's absolute lifetime, so
        the provider asks the person again at least that often (ASVS 7.6.1)."""
        return self.settings.session_absolute_hours * 3600

    async def exchange(self, provider: Provider, code: str, verifier: str) -> dict[str, Any]:
        """The authorisation code (and PKCE verifier) for tokens, with client_secret_basic."""
        form = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": self.redirect_uri, "code_verifier": verifier}
        try:
            async with self.http.post(provider.token_endpoint, data=form, timeout=TIMEOUT,
                                      headers={"Authorization": self._basic()}) as response:
                body = await response.json(content_type=None)
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise SsoError(Reason.UNREACHABLE, f"token endpoint: {type(exc).__name__}") from None
        except ValueError:
            raise SsoError(Reason.PROVIDER_ERROR, "token endpoint: not JSON") from None
        if not isinstance(body, dict):
            raise SsoError(Reason.PROVIDER_ERROR, "token endpoint: not a JSON object")
        if status == 400 and body.get("error") == "invalid_grant":
            raise SsoError(Reason.CODE, str(body.get("error_description", "invalid_grant")))
        if status != 200 or not isinstance(body.get("id_token"), str):
            raise SsoError(Reason.PROVIDER_ERROR, f"token endpoint: {status} {body.get('error')}")
        return body

    def _basic(self) -> str:
        """client_secret_basic: id and secret form-encoded, then Base64 (RFC 6749 2.3.1)."""
        pair = f"{quote(self.settings.sso_client_id, safe='')}:" \
            f"{quote(self.settings.sso_client_secret, safe='')}"
        return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")

    async def _decode(self, provider: Provider, id_token: str) -> jwt.Token:
        registry = JWSRegistry(algorithms=list(provider.algorithms))
        try:
            try:
                return jwt.decode(id_token, await self.key_set(provider), registry=registry)
            except (InvalidKeyIdError, MissingKeyError):  # keys rotated since we fetched them
                return jwt.decode(id_token, await self.key_set(provider, force=True),
                                  registry=registry)
        except (BadSignatureError, InvalidKeyIdError, MissingKeyError) as exc:
            raise SsoError(Reason.SIGNATURE, exc.error) from None
        except (DecodeError, JoseError, ValueError) as exc:
            raise SsoError(Reason.SIGNATURE, f"undecodable: {type(exc).__name__}") from None

    async def verify(self, provider: Provider, tokens: dict[str, Any],
                     nonce: str) -> dict[str, Any]:
        """The ID token's claims once signature, issuer, audience, times and nonce hold."""
        token = await self._decode(provider, str(tokens["id_token"]))
        claims = CodeIDToken(token.claims, token.header, {
            "iss": {"essential": True, "value": provider.issuer},
            "aud": {"essential": True, "value": self.settings.sso_client_id},
        }, {"nonce": nonce, "client_id": self.settings.sso_client_id,
            "access_token": tokens.get("access_token"), "max_age": self.max_age})
        moment = int(now().timestamp())
        try:
            claims.validate(now=moment, leeway=LEEWAY_SECONDS)
        except ExpiredTokenError:
            raise SsoError(Reason.EXPIRED, "exp") from None
        except JoseError as exc:
            claim = str(getattr(exc, "claim", "") or exc.error)
            reason = Reason.NONCE if "nonce" in str(exc) else Reason.CLAIMS
            raise SsoError(reason, f"{exc.error} {claim}") from None
        if moment - claims["auth_time"] > self.max_age + LEEWAY_SECONDS:
            raise SsoError(Reason.EXPIRED, "auth_time older than max_age")
        return dict(claims)

    async def with_userinfo(self, provider: Provider, tokens: dict[str, Any],
                            claims: dict[str, Any]) -> dict[str, Any]:
        """Providers that keep the email out of the ID token give it at the UserInfo endpoint;
        its answer counts only for the same `sub` (OpenID Connect Core 5.3.2)."""
        if "email" in claims or not provider.userinfo_endpoint \
                or not isinstance(tokens.get("access_token"), str):
            return claims
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        try:
            async with self.http.get(provider.userinfo_endpoint, headers=headers,
                                     timeout=TIMEOUT) as response:
                info = await response.json(content_type=None) if response.status == 200 else {}
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise SsoError(Reason.UNREACHABLE, f"userinfo: {type(exc).__name__}") from None
        if not isinstance(info, dict) or info.get("sub") != claims.get("sub"):
            raise SsoError(Reason.CLAIMS, "userinfo answered for another sub")
        return {**claims, **{k: info[k] for k in ("email", "email_verified") if k in info}}

    def logout_url(self, provider: Provider) -> str | None:
        """RP-initiated logout at the provider, back to Rapport's sign-in page, if offered."""
        if not provider.end_session_endpoint:
            return None
        url: str = add_params_to_uri(provider.end_session_endpoint, [
            ("client_id", self.settings.sso_client_id),
            ("post_logout_redirect_uri", self.settings.base_url.rstrip("/") + "/login"),
        ])
        return url


# Set only when single sign-on is configured (`oidc_ctx`).
OIDC: web.AppKey[OidcClient] = web.AppKey("oidc", OidcClient)


async def oidc_ctx(app: web.Application) -> AsyncIterator[None]:
    """The provider client and its HTTP session, when single sign-on is configured."""
    settings = app[keys.SETTINGS]
    if not settings.sso_issuer:
        yield
        return
    # No cookie jar: each call to the provider stands alone, nothing carries between people.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        app[OIDC] = OidcClient(settings, http)
        yield
