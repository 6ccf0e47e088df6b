"""A call forced through TURN: with `force_relay` the pages may only use relay candidates,
and media still flows both ways through a real coturn on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server import keys
from server.settings import Settings
from tests.browser.calls import admit, joined, media_flows, phase, practitioner_page
from tests.browser.conftest import LiveServer, NewContext
from tests.calls import remote_call
from tests.conftest import World
from tests.turnserver import Coturn, running_coturn

pytestmark = pytest.mark.browser


@pytest.fixture
async def coturn(tmp_path: Path) -> AsyncIterator[Coturn]:
    async with running_coturn(tmp_path / "coturn") as server:
        yield server


@pytest.fixture
def settings(database_url: str, coturn: Coturn) -> Settings:
    """The app's settings pointed at this coturn only, relay forced."""
    return coturn.settings(Settings(database_url=database_url, migrate_on_start=False,
                                    log_json=False, base_url="http://127.0.0.1:8080"),
                           force_relay=True)


async def test_relay_only_call_through_coturn(
        live_server: LiveServer, world: World, new_context: NewContext, coturn: Coturn) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, live_server.app[keys.SETTINGS], alice, person)
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    client = await joined(new_context, call.client_token)
    await admit(prac, person.full_name)
    await phase(client, "in")
    for page in (prac, client):
        try:
            [sample] = await media_flows(page, peers=1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\ncoturn log:\n{coturn.log()[-3000:]}") from None
        # Both ends of the selected pair are coturn's relay addresses: nothing went direct.
        assert sample["localCandidate"] == "relay", sample
        assert sample["remoteCandidate"] == "relay", sample
