""""Test my device" over HTTP: public, nothing stored, bad offers refused clearly, capped."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

CSRF = re.compile(r'data-csrf="([^"]+)"')


async def _page_csrf(client: TestClient) -> str:
    page = await client.get("/device-test")
    assert page.status == 200
    text = await page.text()
    assert 'id="device-test"' in text and 'data-result-url=""' in text  # nothing sent back
    match = CSRF.search(text)
    assert match
    return match.group(1)


async def test_the_page_is_public_and_asks_for_nothing(client: TestClient) -> None:
    page = await client.get("/device-test", allow_redirects=False)
    assert page.status == 200
    text = await page.text()
    assert "Test your device" in text and "Sign in" not in text
    assert "date of birth" not in text.lower()


async def test_a_bad_offer_is_refused_plainly_and_tests_are_capped(client: TestClient) -> None:
    csrf = await _page_csrf(client)
    headers = {"X-CSRF-Token": csrf, "Origin": str(client.make_url("")).rstrip("/"),
               "Accept": "application/json"}
    not_sdp = await client.post("/device-test/echo", json={"sdp": "hello there, echo"},
                                headers=headers)
    assert not_sdp.status == 400
    assert "not a WebRTC offer" in (await not_sdp.json())["detail"]
    missing = await client.post("/device-test/echo", json={}, headers=headers)
    assert missing.status == 422
    statuses = []
    for _ in range(7):  # malformed offers still start (and count as) a test
        answer = await client.post("/device-test/echo", headers=headers,
                                   json={"sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"})
        statuses.append(answer.status)
    assert statuses[:6] == [400] * 6 and statuses[6] == 429, statuses
    no_csrf = await client.post("/device-test/echo", json={"sdp": "v=0\nm=audio"})
    assert no_csrf.status == 403
