"""A real nginx (Debian's package) in front of Rapport processes, started by a test.

The configuration mirrors docker/nginx.conf without TLS: one upstream of every process,
WebSocket upgrade on /signal, and the next process tried when one refuses or is draining.
nginx runs in the foreground with a prefix folder of the test's own, so nothing of the
machine's own nginx is touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

CONF = """\
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream rapport {{
{servers}
    }}
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ""      "";
    }}
    server {{
        listen 127.0.0.1:{port};
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_next_upstream error timeout http_502 http_503;
        proxy_connect_timeout 2s;
        location = /signal {{
            proxy_pass http://rapport;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 60s;
            proxy_send_timeout 60s;
        }}
        location / {{
            proxy_pass http://rapport;
        }}
    }}
}}
"""


def start(folder: Path, port: int, upstreams: list[int]) -> subprocess.Popen[bytes]:
    """nginx on 127.0.0.1:port in front of 127.0.0.1:<each upstream>, in the foreground."""
    if not Path(NGINX).exists():
        message = "nginx is missing: run `apt-get install -y nginx` (scripts/test does)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    folder.mkdir(parents=True, exist_ok=True)
    # A process that is down is retried quickly: max_fails=1, fail_timeout=1s.
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=1s;"
                        for p in upstreams)
    conf = folder / "nginx.conf"
    conf.write_text(CONF.format(prefix=folder, port=port, servers=servers))
    with (folder / "stdout.log").open("ab") as log:
        return subprocess.Popen([NGINX, "-p", str(folder), "-c", str(conf)],  # noqa: S603
                                stdout=log, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


@contextlib.asynccontextmanager
async def running_nginx(folder: Path, port: int, upstreams: list[int]) -> AsyncIterator[str]:
    """nginx started for the test, answering on its base URL (yielded)."""
    process = start(folder, port, upstreams)
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                assert process.poll() is None, "nginx stopped: see its error.log"
                try:
                    async with session.get(f"{url}/healthz"):
                        break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
        yield url
    finally:
        stop(process)
