"""A real OpenID Connect provider for the single sign-on tests: panva's `oidc-provider` run by
node from tests/oidc/ (installed by scripts/test with `npm ci`), and a browser-free walk
through it that follows redirects like a browser would."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

HERE = Path(__file__).parent / "oidc"
CLIENT_ID = "rapport"
CLIENT_SECRET = "test-client-secret-0123456789abcdef"
RAPPORT = "http://127.0.0.1:8080"  # the tests' base_url: the registered redirect URI's origin
CALLBACK = "/login/sso/callback"
# The provider's people, by `sub`; each signs in with its own `amr` (RFC 8176).
ACCOUNTS = {
    "alice-sub": {"email": "alice@example.test", "email_verified": True, "amr": ["pwd", "mfa"]},
    "bob-sub": {"email": "bob@example.test", "email_verified": True, "amr": ["pwd"]},
    "carol-sub": {"email": "Carol@Example.test", "email_verified": True, "amr": ["hwk"]},
    "unverified-sub": {"email": "sue@example.test", "email_verified": False, "amr": ["mfa"]},
    "stranger-sub": {"email": "stranger@example.test", "email_verified": True, "amr": ["mfa"]},
    "gone-sub": {"email": "gone@example.test", "email_verified": True, "amr": ["mfa"]},
    "alice-again-sub": {"email": "alice@example.test", "email_verified": True, "amr": ["mfa"]},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _node() -> str:
    node = shutil.which("node")
    missing = node is None or not (HERE / "node_modules" / "oidc-provider").is_dir()
    if missing:
        why = "node or tests/oidc/node_modules missing: run `npm ci --prefix tests/oidc`"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the single sign-on tests: {why}")
        pytest.skip(why)
    assert node is not None
    return node


@dataclass(frozen=True)
class RunningProvider:
    issuer: str


@contextmanager
def running_provider(folder: Path, email_in_id_token: bool,
                     rapport: str = RAPPORT) -> Iterator[RunningProvider]:
    """The provider on a free 127.0.0.1 port, Rapport registered as a confidential client."""
    node = _node()
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    conf = folder / "provider.json"
    conf.write_text(json.dumps({
        "issuer": issuer, "port": port, "accounts": ACCOUNTS,
        "email_in_id_token": email_in_id_token,
        "client": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                   "redirect_uris": [rapport + CALLBACK],
                   "post_logout_redirect_uris": [rapport + "/login"]},
    }))
    log = folder / "provider.log"  # a file, not a pipe nobody reads that could fill up
    with log.open("w") as errors:
        process = subprocess.Popen([node, str(HERE / "provider.js"), str(conf)],
                                   stdout=subprocess.PIPE, stderr=errors, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # "READY", or nothing if node exits
        if "READY" not in line:
            process.kill()
            process.wait(timeout=5)
            pytest.fail(f"the OpenID provider did not start: {log.read_text()[-2000:]}")
        yield RunningProvider(issuer)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProvider]:
    """A provider that puts the email in the ID token."""
    with running_provider(tmp_path_factory.mktemp("oidc"), email_in_id_token=True) as found:
        yield found


@pytest.fixture(scope="session")
def userinfo_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProvider]:
    """A provider that gives the email only at its UserInfo endpoint."""
    with running_provider(tmp_path_factory.mktemp("oidc"), email_in_id_token=False) as found:
        yield found


async def provider_answer(start: aiohttp.ClientResponse, sub: str) -> str:
    """Follow Rapport's redirect to the provider, sign in there as `sub` (as a browser would),
    and return where the provider sends the browser back to: Rapport's callback, path and
    query."""
    assert start.status == 303, await start.text()
    url = start.headers["Location"] + f"&login_hint={sub}"
    jar = aiohttp.CookieJar(unsafe=True)  # the provider's own cookies, on an IP address
    async with aiohttp.ClientSession(cookie_jar=jar) as browser:
        for _ in range(12):
            if url.startswith(RAPPORT + CALLBACK):
                parts = urlsplit(url)
                return f"{parts.path}?{parts.query}"
            async with browser.get(url, allow_redirects=False) as response:
                assert response.status in (302, 303), (response.status, await response.text())
                location = response.headers["Location"]
                here = urlsplit(url)
                url = location if location.startswith("http") else \
                    f"{here.scheme}://{here.netloc}{location}"
    raise AssertionError("the provider never sent the browser back to Rapport")
