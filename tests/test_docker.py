"""The container files are well-formed: compose accepts the compose file, and the image runs
as an unprivileged user with a health check. No Docker engine is needed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"


@pytest.fixture(scope="module")
def compose() -> str:
    path = shutil.which("docker-compose")
    if path is None:
        message = "docker-compose is missing: run `apt-get install -y docker-compose`"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


TURN_SECRET = "not-a-real-turn-secret"
# Set by each test as it needs, never taken from the developer's environment.
_OVERRIDDEN = {"POSTGRES_PASSWORD", "RAPPORT_TURN_SECRET", "RAPPORT_TURN_URLS",
               "RAPPORT_FORCE_RELAY"}


def _config(compose: str, password: str | None, *args: str,
            turn_secret: str | None = TURN_SECRET) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in _OVERRIDDEN}
    if password is not None:
        env["POSTGRES_PASSWORD"] = password
    if turn_secret is not None:
        env["RAPPORT_TURN_SECRET"] = turn_secret
    return subprocess.run([compose, "-f", str(DOCKER / "compose.yaml"), "config", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
                          check=False)


def test_compose_config_is_accepted(compose: str) -> None:
    result = _config(compose, "not-a-real-secret")
    assert result.returncode == 0, result.stderr
    services = _config(compose, "not-a-real-secret", "--services")
    assert services.returncode == 0, services.stderr
    assert set(services.stdout.split()) == {"rapport-1", "rapport-2", "db", "redis", "coturn",
                                            "nginx"}
    volumes = _config(compose, "not-a-real-secret", "--volumes")
    assert volumes.stdout.split() == ["pgdata"]
    text = result.stdout
    assert "postgresql+asyncpg://rapport:not-a-real-secret@db:5432/rapport" in text
    assert "condition: service_healthy" in text
    assert "pg_isready" in text
    assert "image: postgres:15" in text
    assert re.search(r"published: 443\n\s+target: 443", text)


def test_compose_runs_two_processes_on_one_redis_behind_nginx(compose: str) -> None:
    result = _config(compose, "not-a-real-secret")
    assert result.returncode == 0, result.stderr
    first, second = _service(result.stdout, "rapport-1"), _service(result.stdout, "rapport-2")
    for rapport in (first, second):
        assert "RAPPORT_ROOM_BUS: redis://redis:6379/0" in rapport
        assert "/readyz" in rapport  # its health check
        assert "8080:8080" not in rapport  # reached through nginx only
    assert "RAPPORT_MIGRATE_ON_START: 'false'" in second or \
        'RAPPORT_MIGRATE_ON_START: "false"' in second
    assert "redis-cli" in _service(result.stdout, "redis")
    nginx = _service(result.stdout, "nginx")
    assert "nginx.conf" in nginx and "healthz" in nginx
    conf = (DOCKER / "nginx.conf").read_text(encoding="utf-8")
    for needed in ("server rapport-1:8080", "server rapport-2:8080", "listen 443 ssl",
                   "proxy_set_header Upgrade $http_upgrade", "location = /signal",
                   "location = /metrics { return 404; }"):
        assert needed in conf, needed


def test_compose_requires_a_database_password(compose: str) -> None:
    result = _config(compose, None)
    assert result.returncode != 0
    assert "set POSTGRES_PASSWORD" in result.stderr


def _service(config: str, name: str) -> str:
    """The text of one service in `docker-compose config` output (two-space indented)."""
    match = re.search(rf"^  {name}:\n((?:    .*\n|\n)*)", config, re.M)
    assert match, f"no service {name!r} in:\n{config}"
    return match.group(1)


def test_compose_coturn_checks_credentials_minted_with_the_shared_secret(compose: str) -> None:
    result = _config(compose, "not-a-real-secret")
    assert result.returncode == 0, result.stderr
    coturn, rapport = _service(result.stdout, "coturn"), _service(result.stdout, "rapport-1")
    assert re.search(r"image: coturn/coturn:\S+", coturn)
    # TURN REST API: coturn accepts credentials Rapport mints with the same secret.
    assert "- --use-auth-secret\n" in coturn
    assert f"- --static-auth-secret={TURN_SECRET}\n" in coturn
    assert f"RAPPORT_TURN_SECRET: {TURN_SECRET}\n" in rapport
    assert re.search(r"RAPPORT_TURN_URLS: turn:\S+:3478\?transport=udp", rapport)
    # No fixed user accounts, and the CLI (with its default empty password) is off.
    assert "--lt-cred-mech" not in coturn and "--user" not in coturn
    assert "- --no-cli\n" in coturn
    # turnserver directly: the image's entrypoint script `eval`s its arguments.
    assert re.search(r"entrypoint:\n\s+- turnserver\n", coturn)


def test_compose_requires_a_turn_secret(compose: str) -> None:
    result = _config(compose, "not-a-real-secret", turn_secret=None)
    assert result.returncode != 0
    assert "set RAPPORT_TURN_SECRET" in result.stderr


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    text = (DOCKER / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _final_stage() -> list[tuple[str, str]]:
    steps = _instructions()
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def test_dockerfile_runs_as_an_unprivileged_user() -> None:
    users = [rest for word, rest in _final_stage() if word == "USER"]
    assert users, "the final stage has no USER line, so the app would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"USER {users[-1]} is root"


def test_dockerfile_has_a_healthcheck_on_healthz() -> None:
    checks = [rest for word, rest in _final_stage() if word == "HEALTHCHECK"]
    assert checks and "NONE" not in checks[-1].upper()
    assert "/healthz" in checks[-1]


def test_dockerfile_basics() -> None:
    steps = _instructions()
    assert steps[0] == ("FROM", "python:3.11-slim AS build")
    assert _final_stage()[0][1].startswith("python:3.11-slim")
    final = dict(_final_stage())
    assert final["EXPOSE"] == "8080"
    assert "RAPPORT_HOST=0.0.0.0" in final["ENV"]
    assert final["CMD"] == '["rapport", "serve"]'
    assert any(word == "RUN" and "pip install --no-cache-dir ." in rest for word, rest in steps)
    secrets = re.compile(r"(PASSWORD|SECRET|TOKEN)\s*=|postgresql\+asyncpg://", re.I)
    assert not any(word in ("ENV", "ARG") and secrets.search(rest) for word, rest in steps)
