"""The `rapport` command as a newcomer uses it (run as a real subprocess)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest


def rapport(*args: str, tmp_path, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")}
    environ.update(RAPPORT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/cli.db",
                   RAPPORT_LOG_JSON="false", **env)
    return subprocess.run([sys.executable, "-m", "server.cli", *args], input=stdin,
                          capture_output=True, text=True, env=environ, timeout=60, check=False)


def test_help_lists_every_command(tmp_path):
    result = rapport("--help", tmp_path=tmp_path)
    assert result.returncode == 0
    for command in ("serve", "migrate", "create-user", "demo"):
        assert command in result.stdout
    assert "RAPPORT_" in result.stdout


def test_bad_setting_is_named_and_exits_2(tmp_path):
    result = rapport("migrate", tmp_path=tmp_path, RAPPORT_PORT="eighty")
    assert result.returncode == 2
    assert "RAPPORT_PORT" in result.stderr and "whole number" in result.stderr


def test_migrate_reports_revision(tmp_path):
    result = rapport("migrate", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "revision: 0008" in result.stdout
    down = rapport("migrate", "--down", "base", tmp_path=tmp_path)
    assert "base (empty)" in down.stdout


def test_create_user_refuses_weak_password_then_creates(tmp_path):
    weak = rapport("create-user", "--email", "p@example.test", "--name", "Pat", "--role",
                   "practitioner", "--password-stdin", tmp_path=tmp_path, stdin="password123\n")
    assert weak.returncode == 1
    assert "too common" in weak.stderr or "at least 12" in weak.stderr
    good = rapport("create-user", "--email", "p@example.test", "--name", "Pat", "--role",
                   "practitioner", "--role", "admin", "--team", "North", "--password-stdin",
                   tmp_path=tmp_path, stdin="violet-kettle-orbit-71\n")
    assert good.returncode == 0, good.stderr
    assert "created p@example.test (admin, practitioner)" in good.stdout
    again = rapport("create-user", "--email", "P@example.test", "--name", "Pat", "--role",
                    "practitioner", "--password-stdin", tmp_path=tmp_path,
                    stdin="violet-kettle-orbit-71\n")
    assert again.returncode == 1 and "already exists" in again.stderr


@pytest.mark.parametrize("runs", [2])
def test_demo_prints_logins_and_links_every_run(tmp_path, runs):
    for _ in range(runs):
        result = rapport("demo", "--no-serve", tmp_path=tmp_path)
        assert result.returncode == 0, result.stderr
        out = result.stdout
        for role in ("practitioner", "supervisor", "admin"):
            assert re.search(rf"^{role} login: \S+@\S+ / \S{{12,}}$", out, re.M), out
        assert re.search(r"^client link: http://127\.0\.0\.1:8080/join/[\w-]{43}$", out, re.M)
        assert re.search(r"^interpreter link: http://\S+/join/[\w-]{43}$", out, re.M)
        assert re.search(r"^client date of birth: \d{4}-\d\d-\d\d$", out, re.M)
