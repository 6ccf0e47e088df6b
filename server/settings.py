"""Typed settings from `RAPPORT_*` environment variables and an optional TOML file.

Precedence: environment over file over defaults. Every problem names the setting at fault.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from server.sso_settings import sso_checks

ENV_PREFIX = "RAPPORT_"


class SettingsError(ValueError):
    """A setting is missing, malformed or out of range; the message names it."""


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite+aiosqlite:///var/rapport.db"
    host: str = "127.0.0.1"
    port: int = 8080
    # Public address people use to reach Rapport; links in invitations are built from it.
    base_url: str = "http://127.0.0.1:8080"
    log_level: str = "INFO"
    log_json: bool = True
    # Staff sessions: idle and absolute lifetimes (OWASP ASVS 3.3).
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    # Every staff account proves a second factor (passkey, authenticator app or recovery code)
    # after its password; switched off only for trials (docs/security.md, "Second factor").
    second_factor_required: bool = True
    # Sensitive acts (API tokens, the policy, subject access exports, account admin) ask for
    # the second factor again when the session's last check is older than this.
    reauth_minutes: int = 10
    # Wrong second-factor codes a sign-in may make before it is ended (the password again).
    factor_max_failures: int = 5
    # Personal API tokens live at most this long.
    api_token_max_days: int = 90
    # Request bodies larger than this are refused with 413 before they are read.
    max_body_bytes: int = 1024 * 1024
    # Login throttling (per account and address pair, per account, per address).
    login_max_failures: int = 5
    login_window_minutes: int = 15
    login_max_lockout_minutes: int = 15
    # A browser that signed in correctly is trusted this long: its sign-ins are throttled on
    # their own, so failed guesses elsewhere cannot lock the person out of it.
    login_device_days: int = 90
    # Invitation links are valid from this long before to this long after the appointment.
    invitation_before_minutes: int = 30
    invitation_after_minutes: int = 120
    # Wrong dates of birth a client may enter before their link locks.
    invitation_max_attempts: int = 5
    # ICE: STUN and TURN addresses given to browsers; the STUN ones also to the server's own
    # peers (recorder, pre-call echo), which otherwise ask no STUN server at all
    # ("stun:host:3478", "turn:host:3478?transport=udp").
    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    # coturn's static-auth-secret (use-auth-secret): TURN credentials are minted per participant
    # with the TURN REST scheme and live this many seconds.
    turn_secret: str = ""
    turn_ttl_seconds: int = 3600
    # Send media only through TURN (iceTransportPolicy "relay"): hides people's addresses.
    force_relay: bool = False
    # How often the contact-record sweeper runs (missed appointments, abandoned sessions).
    records_sweep_seconds: int = 60
    # Local time of the organisation: form times are read in it, pages show times in it.
    timezone: str = "Europe/London"
    # Where the wording shown to people is translated to; the first is the default.
    languages: tuple[str, ...] = ("en", "cy", "ar")
    # "If nothing works": the phone number a client is told to call (shown on the link, the
    # waiting room and every page where the video session cannot go ahead).
    help_phone: str = "0300 123 4567"
    # Run `alembic upgrade head` on start when the database has no tables yet.
    migrate_on_start: bool = True
    # Retention, in days, per kind of data (0 keeps it for ever); see docs/privacy.md.
    retention_contact_days: int = 2190  # six years: contact records
    retention_audit_days: int = 2555  # seven years: outlives the data it proves access to
    retention_invitation_days: int = 30  # after the link stopped working
    retention_participant_days: int = 365  # room presence, events and checklist answers
    retention_message_days: int = 90  # messages sent (and pushes) after they were settled
    # How often the background sweeper applies the schedule (0: never; use `rapport retention`).
    retention_sweep_minutes: int = 1440
    # Recordings (docs/recording.md): where the sealed files go, the keys ("id:base64" of 32
    # random bytes; old ids stay listed so old recordings still open) and the id new ones use.
    # No current key: recording is refused.
    recordings_dir: str = "var/recordings"
    recording_keys: tuple[str, ...] = ()
    recording_key_id: str = ""
    # Messages to clients (docs/notifications.md): the channel that carries each kind —
    # "log" (a log line only, nothing leaves: the demo), "smtp" (email only) or "notify"
    # (GOV.UK Notify) — the sender, and each channel's credentials.
    email_channel: str = "log"
    sms_channel: str = "log"
    email_from: str = "Rapport <no-reply@rapport.invalid>"
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_security: str = "starttls"  # starttls | tls (implicit) | none (a relay on localhost)
    notify_api_key: str = ""
    notify_base_url: str = "https://api.notifications.service.gov.uk"
    # Notify templates whose whole content is ((body)) (and subject ((subject))): the wording
    # is Rapport's, translated here, so Notify holds no copy of it.
    notify_sms_template_id: str = ""
    notify_email_template_id: str = ""
    notify_sms_sender_id: str = ""
    # Reminders carry the join link only when sent this many hours before the start, or less.
    reminder_link_hours: int = 2
    # The outbox worker: how often it looks for due messages (0: no worker in this process),
    # attempts before a message is marked failed, the first retry's delay (doubling after),
    # how long a claimed message is held before another worker may take it over.
    outbox_poll_seconds: int = 2
    outbox_max_attempts: int = 6
    outbox_backoff_seconds: int = 30
    outbox_lease_seconds: int = 120
    webhook_timeout_seconds: int = 10
    # How often sent Notify messages are asked for their delivery status (0: never).
    notify_status_poll_seconds: int = 60
    # Several processes (docs/architecture.md, "Several processes"): the room bus, "" for
    # this process alone, or "redis://host:6379/0" for every process sharing that Redis
    # under the key prefix below (one prefix per deployment).
    room_bus: str = ""
    room_bus_prefix: str = "rapport"
    # A process's lease lives this long unless renewed: a killed process is noticed within it.
    lease_seconds: int = 15
    # After a process is gone, how long its participants have to reconnect elsewhere before
    # their session is closed as interrupted.
    reconnect_grace_seconds: int = 60
    # SIGTERM: how long to wait for pages to be told to reconnect and for writes to finish.
    drain_seconds: int = 10
    # Real-time round-robin scheduling (SCHED_RR, the lowest priority) for every thread of a
    # serving process, so that other work on the machine cannot keep it waiting for a core:
    # a withdrawal closes the recorder peers within milliseconds however busy the machine is
    # (docs/performance.md, "Recorder: withdrawal under load"). Needs CAP_SYS_NICE or an
    # RLIMIT_RTPRIO of at least 1; Linux only (docs/recording.md, "Stopping on time").
    realtime_scheduling: bool = False
    # One signalling WebSocket (docs/signalling.md, "Limits"): a token bucket of this many
    # messages at once, refilled at this many a second (over it: `rate_limited`); a text
    # message longer than this is answered `message_too_large`; a frame longer than this
    # closes the connection (1009).
    signal_burst: int = 200
    signal_rate: int = 50
    signal_max_message_bytes: int = 64 * 1024
    signal_max_frame_bytes: int = 1024 * 1024
    # /metrics: with a token, only for `Authorization: Bearer <token>`; without, only for
    # callers on this machine.
    metrics_token: str = ""
    # Staff single sign-on over OpenID Connect (docs/security.md, "Single sign-on"): the
    # provider's issuer URL ("" = off), this client's id and secret, the provider's name on
    # the button, the `amr` values that count as the provider having done multi-factor (then
    # Rapport's own factor step is skipped), and whether passwords still sign in.
    sso_issuer: str = ""
    sso_client_id: str = ""
    sso_client_secret: str = ""
    sso_label: str = ""
    sso_mfa_amr: tuple[str, ...] = ("mfa", "otp", "hwk", "swk", "sc")
    password_login: bool = True
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")

    def validate(self) -> Settings:
        checks: list[tuple[str, bool, str]] = [
            ("port", 0 <= self.port <= 65535, "must be between 0 and 65535"),
            ("session_idle_minutes", self.session_idle_minutes > 0, "must be positive"),
            ("session_absolute_hours", self.session_absolute_hours > 0, "must be positive"),
            ("reauth_minutes", 1 <= self.reauth_minutes <= 720, "must be 1 to 720"),
            ("factor_max_failures", self.factor_max_failures > 0, "must be positive"),
            ("api_token_max_days", 0 < self.api_token_max_days <= 365, "must be 1 to 365"),
            ("max_body_bytes", self.max_body_bytes >= 1024, "must be at least 1024"),
            ("login_max_failures", self.login_max_failures > 0, "must be positive"),
            ("login_window_minutes", self.login_window_minutes > 0, "must be positive"),
            ("login_max_lockout_minutes", self.login_max_lockout_minutes > 0, "must be positive"),
            ("login_device_days", self.login_device_days > 0, "must be positive"),
            ("invitation_before_minutes", self.invitation_before_minutes >= 0, "must be >= 0"),
            ("invitation_after_minutes", self.invitation_after_minutes > 0, "must be positive"),
            ("invitation_max_attempts", self.invitation_max_attempts > 0, "must be positive"),
            ("records_sweep_seconds", 1 <= self.records_sweep_seconds <= 3600,
             "must be between 1 and 3600"),
            ("turn_ttl_seconds", 60 <= self.turn_ttl_seconds <= 86400,
             "must be between 60 and 86400"),
            ("turn_secret", bool(self.turn_secret) or not self.turn_urls,
             "must be set when turn_urls is set"),
            ("force_relay", bool(self.turn_urls) or not self.force_relay,
             "needs turn_urls"),
            ("room_bus", self.room_bus == "" or self.room_bus.startswith(
                ("redis://", "rediss://", "unix://")), "must be empty or a redis:// URL"),
            ("room_bus_prefix", bool(self.room_bus_prefix) and " " not in self.room_bus_prefix,
             "must be a word without spaces"),
            ("lease_seconds", 3 <= self.lease_seconds <= 300, "must be between 3 and 300"),
            ("reconnect_grace_seconds", 0 <= self.reconnect_grace_seconds <= 3600,
             "must be between 0 and 3600"),
            ("drain_seconds", 0 <= self.drain_seconds <= 300, "must be between 0 and 300"),
            ("signal_burst", 1 <= self.signal_burst <= 100_000, "must be 1 to 100000"),
            ("signal_rate", 1 <= self.signal_rate <= 100_000, "must be 1 to 100000"),
            ("signal_max_frame_bytes", 1024 <= self.signal_max_frame_bytes <= 16 * 1024 * 1024,
             "must be 1024 to 16777216"),
            ("signal_max_message_bytes", 1024 <= self.signal_max_message_bytes
             <= self.signal_max_frame_bytes, "must be 1024 to signal_max_frame_bytes"),
            ("log_level", self.log_level.upper() in _LEVELS, f"must be one of {sorted(_LEVELS)}"),
            ("languages", len(self.languages) > 0, "must name at least one language"),
            *((name, getattr(self, name) >= 0, "must be 0 (keep for ever) or more days")
              for name in RETENTION_SETTINGS),
            ("retention_audit_days", self.retention_audit_days == 0
             or 0 < self.retention_contact_days <= self.retention_audit_days,
             "must be at least retention_contact_days (the log proves who saw those records)"),
            ("retention_sweep_minutes", self.retention_sweep_minutes >= 0, "must be >= 0"),
            (
                "database_url",
                self.database_url.split(":", 1)[0] in _DRIVERS,
                f"must start with one of {sorted(_DRIVERS)}",
            ),
            (
                "base_url",
                self.base_url.startswith(("http://", "https://")),
                "must start with http:// or https://",
            ),
        ]
        checks.extend(self._message_checks())
        checks.extend(sso_checks(self))
        try:
            decode_recording_keys(self.recording_keys, self.recording_key_id)
        except ValueError as exc:
            raise SettingsError(f"{ENV_PREFIX}RECORDING_KEYS: {exc}") from None
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            checks.append(("timezone", False, "must be an IANA time zone such as Europe/London"))
        for name, ok, why in checks:
            if not ok:
                got = "value hidden" if name in _SECRETS else f"got {getattr(self, name)!r}"
                raise SettingsError(f"{ENV_PREFIX}{name.upper()}: {why} ({got})")
        return self

    def _message_checks(self) -> list[tuple[str, bool, str]]:
        notify = "notify" in (self.email_channel, self.sms_channel)
        return [
            ("email_channel", self.email_channel in _EMAIL_CHANNELS,
             f"must be one of {sorted(_EMAIL_CHANNELS)}"),
            ("sms_channel", self.sms_channel in _SMS_CHANNELS,
             f"must be one of {sorted(_SMS_CHANNELS)}"),
            ("email_from", bool(_ADDRESS.search(self.email_from)),
             "must contain an email address, e.g. Probation <no-reply@example.gov.uk>"),
            ("smtp_host", bool(self.smtp_host) or self.email_channel != "smtp",
             "must be set when email_channel is smtp"),
            ("smtp_port", 0 < self.smtp_port <= 65535, "must be between 1 and 65535"),
            ("smtp_security", self.smtp_security in {"starttls", "tls", "none"},
             "must be starttls, tls or none"),
            ("notify_api_key", not notify or bool(_NOTIFY_KEY.fullmatch(self.notify_api_key)),
             "must be a GOV.UK Notify API key (name-serviceid-secret) when a channel is notify"),
            ("notify_base_url", self.notify_base_url.startswith(("http://", "https://")),
             "must start with http:// or https://"),
            ("notify_sms_template_id", self.sms_channel != "notify"
             or bool(_UUID.fullmatch(self.notify_sms_template_id)),
             "must be the id of a Notify SMS template whose content is ((body))"),
            ("notify_email_template_id", self.email_channel != "notify"
             or bool(_UUID.fullmatch(self.notify_email_template_id)),
             "must be the id of a Notify email template: subject ((subject)), content ((body))"),
            ("reminder_link_hours", 0 <= self.reminder_link_hours <= 48, "must be 0 to 48"),
            ("outbox_poll_seconds", 0 <= self.outbox_poll_seconds <= 3600, "must be 0 to 3600"),
            ("outbox_max_attempts", 1 <= self.outbox_max_attempts <= 50, "must be 1 to 50"),
            ("outbox_backoff_seconds", self.outbox_backoff_seconds >= 1, "must be positive"),
            ("outbox_lease_seconds", self.outbox_lease_seconds >= 10, "must be at least 10"),
            ("webhook_timeout_seconds", 1 <= self.webhook_timeout_seconds <= 120,
             "must be 1 to 120"),
            ("notify_status_poll_seconds", self.notify_status_poll_seconds >= 0,
             "must be 0 (never) or more"),
        ]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


RETENTION_SETTINGS = ("retention_contact_days", "retention_audit_days", "retention_invitation_days",
                      "retention_participant_days", "retention_message_days")
# Listening on every interface: links from this machine still reach it on loopback.
_ANY_ADDRESS = {"0.0.0.0", "::"}  # noqa: S104 - compared with, never bound to
_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
_DRIVERS = {"sqlite+aiosqlite", "postgresql+asyncpg"}
# Never repeated in an error message: it would land in logs.
_SECRETS = {"notify_api_key", "smtp_password", "turn_secret", "sso_client_secret"}
_EMAIL_CHANNELS = {"log", "smtp", "notify"}
_SMS_CHANNELS = {"log", "notify"}
_ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_NOTIFY_KEY = re.compile(r".+-" + _UUID.pattern + "-" + _UUID.pattern)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _convert(name: str, kind: Any, raw: Any, source: str) -> Any:
    where = f"{source} {name}"
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise SettingsError(f"{where}: expected true or false, got {raw!r}")
    if kind is int:
        if isinstance(raw, bool):
            raise SettingsError(f"{where}: expected a whole number, got {raw!r}")
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise SettingsError(f"{where}: expected a whole number, got {raw!r}") from None
    if kind == tuple[str, ...]:
        items = raw if isinstance(raw, list) else str(raw).split(",")
        return tuple(str(i).strip() for i in items if str(i).strip())
    if not isinstance(raw, str):
        raise SettingsError(f"{where}: expected text, got {raw!r}")
    return raw


def load_settings(
    environ: dict[str, str] | None = None, config_file: str | Path | None = None
) -> Settings:
    """Build settings from a TOML file (optional) and `RAPPORT_*` variables."""
    env = dict(os.environ if environ is None else environ)
    hints = get_type_hints(Settings)
    names = {f.name for f in dataclasses.fields(Settings) if f.name != "extra"}
    values: dict[str, Any] = {}
    path = config_file or env.get(f"{ENV_PREFIX}CONFIG")
    if path:
        values.update(_read_file(Path(path), names, hints))
    for key, raw in env.items():
        if not key.startswith(ENV_PREFIX) or key == f"{ENV_PREFIX}CONFIG":
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name not in names:
            continue  # other tools may share the prefix (e.g. RAPPORT_TEST_*)
        values[name] = _convert(key, hints[name], raw, "environment variable")
    if "base_url" not in values and ("host" in values or "port" in values):
        # Links must reach this server: without a public address, it is where we listen.
        host = values.get("host", Settings.host)
        reachable = "127.0.0.1" if host in _ANY_ADDRESS else host
        values["base_url"] = f"http://{reachable}:{values.get('port', Settings.port)}"
    return Settings(**values).validate()


def _read_file(path: Path, names: set[str], hints: dict[str, Any]) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"{ENV_PREFIX}CONFIG: no such file {str(path)!r}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    table = data.get("rapport", data)
    out: dict[str, Any] = {}
    for name, raw in table.items():
        if name not in names:
            raise SettingsError(f"{path}: unknown setting {name!r}")
        out[name] = _convert(name, hints[name], raw, f"{path}:")
    return out


RECORDING_KEY_BYTES = 32  # AES-256


def decode_recording_keys(entries: tuple[str, ...], current: str) -> dict[str, bytes]:
    """Keys from "id:base64" entries (32-byte keys); `ValueError` naming the bad entry."""
    keys: dict[str, bytes] = {}
    for entry in entries:
        key_id, sep, encoded = entry.partition(":")
        if not sep or not key_id or len(key_id) > 64 or not key_id.isascii():
            raise ValueError(f"recording key {key_id or entry[:8]!r}: expected id:base64")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise ValueError(f"recording key {key_id!r}: not valid base64") from None
        if len(raw) != RECORDING_KEY_BYTES:
            raise ValueError(f"recording key {key_id!r}: must be {RECORDING_KEY_BYTES} bytes, "
                             f"got {len(raw)}")
        keys[key_id] = raw
    if current and current not in keys:
        raise ValueError(f"recording key id {current!r} is not among the recording keys")
    return keys
