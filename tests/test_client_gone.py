"""A browser that goes away mid-response (a video player's seek cancels its range request)
is not a database failure: nothing is logged as one, and no problem is written to it."""

from __future__ import annotations

import logging
from unittest import mock

from aiohttp.test_utils import make_mocked_request

from server.middleware import CLIENT_GONE, error_middleware


async def test_a_reset_by_a_departed_client_is_not_the_database(caplog) -> None:
    transport = mock.Mock()
    transport.is_closing.return_value = True
    request = make_mocked_request("GET", "/api/v1/recordings/1/media", transport=transport)

    async def handler(_request):
        raise ConnectionResetError("Cannot write to closing transport")

    with caplog.at_level(logging.DEBUG, logger="rapport"):
        response = await error_middleware(request, handler)
    assert response.status == CLIENT_GONE
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_reset_while_the_client_is_there_is_still_the_database(caplog) -> None:
    transport = mock.Mock()
    transport.is_closing.return_value = False
    request = make_mocked_request("GET", "/api/v1/caseload", transport=transport)

    async def handler(_request):
        raise ConnectionRefusedError("database")

    response = await error_middleware(request, handler)
    assert response.status == 503
    assert any("database unavailable" in r.getMessage() for r in caplog.records)
