"""Headers every response carries, and errors a person can read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TEMPLATES = Path(__file__).parent.parent / "web" / "templates"


@pytest.mark.parametrize("path", ["/login", "/api/v1/openapi.json", "/static/rapport.css",
                                  "/no/such/page", "/api/v1/nothing", "/healthz"])
async def test_security_headers_on_every_response(client, path):
    response = await client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert "script-src 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-Id"])


def test_templates_have_no_inline_script_or_style():
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        # Scripts come from files; a JSON data block (never executed) may carry text.
        assert not re.search(r'<script(?![^>]*\b(src=|type="application/json"))[^>]*>', text), \
            template.name
        assert " style=" not in text and "<style" not in text, template.name
        assert not re.search(r"\son[a-z]+=", text), template.name
        assert "http://" not in text and "https://" not in text, template.name  # no CDN


async def test_unknown_page_is_readable_html(client):
    response = await client.get("/no/such/page")
    assert response.status == 404
    assert response.content_type == "text/html"
    assert "There is nothing at this address" in await response.text()


async def test_unknown_api_path_is_problem_json(client):
    response = await client.get("/api/v1/nothing")
    assert response.status == 404
    assert response.content_type == "application/problem+json"
    body = await response.json()
    assert body["type"] == "urn:rapport:problem:not-found" and body["detail"]


async def test_request_id_is_echoed_when_sane(client):
    response = await client.get("/healthz", headers={"X-Request-Id": "abcdef12-3456"})
    assert response.headers["X-Request-Id"] == "abcdef12-3456"
    odd = await client.get("/healthz", headers={"X-Request-Id": "<script>"})
    assert odd.headers["X-Request-Id"] != "<script>"


async def test_pages_are_not_cached_static_files_may_be(client):
    assert (await client.get("/login")).headers["Cache-Control"] == "no-store"
    assert "no-store" not in (await client.get("/static/rapport.css")).headers.get(
        "Cache-Control", "")


async def test_scripts_and_styles_are_gzipped_pages_are_not(client):
    from pathlib import Path

    script = await client.get("/static/call.js", headers={"Accept-Encoding": "gzip"})
    assert script.status == 200 and script.headers["Content-Encoding"] == "gzip"
    served = await script.read()  # the test client decompresses
    assert served == (Path(__file__).parent.parent / "web/static/call.js").read_bytes()
    plain = await client.get("/static/call.js", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    # No body, no compression: HEAD, ranges and revalidations stay plain (and the connection
    # stays usable for the next request).
    head = await client.head("/static/call.js", headers={"Accept-Encoding": "gzip"})
    assert head.status == 200 and "Content-Encoding" not in head.headers
    modified = script.headers["Last-Modified"]
    again = await client.get("/static/call.js", headers={"Accept-Encoding": "gzip",
                                                         "If-Modified-Since": modified})
    assert again.status == 304 and "Content-Encoding" not in again.headers
    part = await client.get("/static/call.js", headers={"Accept-Encoding": "gzip",
                                                        "Range": "bytes=0-9"})
    assert part.status == 206 and len(await part.read()) == 10
    after = await client.get("/static/rapport.css", headers={"Accept-Encoding": "gzip"})
    assert after.status == 200 and (await after.read()).startswith(b"/*")
    # Pages hold CSRF tokens beside reflected input: never compressed (BREACH).
    page = await client.get("/login", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in page.headers
