"""The single sign-on settings' rules, apart from `server/settings.py` (which calls them):
all or nothing, an https issuer (loopback for tests), `amr` values from RFC 8176."""

from __future__ import annotations

from typing import Any

# RFC 8176's registry of authentication method references: a value outside it is a typo.
AMR_VALUES = {"face", "fpt", "geo", "hwk", "iris", "kba", "mca", "mfa", "otp", "pin", "pop",
              "pwd", "rba", "retina", "sc", "sms", "swk", "tel", "user", "vbm", "wia"}
_LOOPBACK = ("http://127.0.0.1", "http://localhost", "http://[::1]")


def sso_checks(settings: Any) -> list[tuple[str, bool, str]]:
    """The single sign-on settings: all or nothing, an https issuer (loopback for tests)."""
    issuer, on = settings.sso_issuer, bool(settings.sso_issuer)
    secure = issuer.startswith("https://") or issuer.startswith(_LOOPBACK)
    return [
        ("sso_issuer", not on or (secure and "?" not in issuer and "#" not in issuer),
         "must be the provider's https:// issuer URL, without query or fragment"),
        ("sso_client_id", not on or bool(settings.sso_client_id.strip()),
         "must be set when sso_issuer is set (the client id the provider gave Rapport)"),
        ("sso_client_secret", not on or bool(settings.sso_client_secret),
         "must be set when sso_issuer is set (the client secret the provider gave Rapport)"),
        ("sso_label", not on or 0 < len(settings.sso_label.strip()) <= 60,
         "must be the provider's name for the button (1 to 60 characters) when sso_issuer is set"),
        ("sso_mfa_amr", set(settings.sso_mfa_amr) <= AMR_VALUES,
         f"must list values of RFC 8176 only: {sorted(AMR_VALUES)}"),
        ("password_login", on or settings.password_login,
         "can be false only when sso_issuer is set (else nobody could sign in)"),
    ]
