"""A browser that goes away mid-response (a video player's seek cancels its range request)
is not a database failure: nothing is logged as one, and no problem is written to it."""

from __future__ import annotations

import logging
from unittest import mock

from aiohttp.test_utils import make_mocked_request

from server.middleware import CLIENT_GONE, error_middleware


def _request(path: str, *, client_gone: bool):  # type: ignore[no-untyped-def]
    transport = mock.Mock()
    transport.is_closing.return_value = client_gone
    return make_mocked_request("GET", path, transport=transport)


async def test_a_reset_by_a_departed_client_is_not_the_database(caplog) -> None:
    request = _request("/api/v1/recordings/1/media", client_gone=True)

    async def handler(_request):
        raise ConnectionResetError("Cannot write to closing transport")

    with caplog.at_level(logging.DEBUG, logger="rapport"):
        response = await error_middleware(request, handler)
    assert response.status == CLIENT_GONE
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_reset_while_the_client_is_there_is_still_the_database(caplog) -> None:
    request = _request("/api/v1/caseload", client_gone=False)

    async def handler(_request):
        raise ConnectionRefusedError("database")

    response = await error_middleware(request, handler)
    assert response.status == 503
    assert any("database unavailable" in r.getMessage() for r in caplog.records)
