""""Test my device": a public page (no link, no account, nothing about anyone) where anyone can
check their camera, microphone, sound and connection before the day, against the same echo
peer as the pre-call check. Reminders point to it at its stable address, `/device-test`.

Nothing is stored: the echo endpoint answers an offer and keeps no row, the result stays in
the browser. The echo peers' caps (how many at once, how many an hour per caller, here per
address) keep it from being used to load the server.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from server.joining.precall import echo_answer
from server.parsing import json_body
from server.render import render
from server.staff.access import Audience, allow

ROUTES = web.RouteTableDef()
PATH = "/device-test"


class DeviceOffer(BaseModel):
    sdp: str = Field(min_length=10, max_length=20_000)


@ROUTES.get(PATH, name="device-test")
@allow(Audience.PUBLIC)
async def device_test_page(request: web.Request) -> web.Response:
    """The page: camera preview, microphone level, a test sound, the connection test."""
    return render(request, "device_test.html")


@ROUTES.post(PATH + "/echo", name="device-test-echo")
@allow(Audience.PUBLIC)  # anyone; capped per address by the echo peers
async def device_test_echo(request: web.Request) -> web.Response:
    """Answer the page's offer with a short-lived echo peer."""
    body = await json_body(request, DeviceOffer)
    return await echo_answer(request, f"address {request.remote}", body.sdp)


def setup(app: web.Application) -> None:
    """Its routes (the echo peers are set up by `precall.setup`)."""
    app.router.add_routes(ROUTES)
