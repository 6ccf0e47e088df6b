"""The signalling protocol suite again, the two ends of each room on different processes.

Process A serves the practitioner, process B the people who open a link; both share the
database and a Redis (`RAPPORT_ROOM_BUS`, a key prefix of this test's own), so admission,
rosters, relays, link locks and the end of the call all cross between processes.
"""

from __future__ import annotations

from signalling.keys import BUS
from signalling.redis_bus import RedisBus
from tests import split
from tests.test_signalling import (  # noqa: F401 - collected here, run with the fixtures below
    admitted_pair,
    test_a_client_who_answered_before_the_practitioner_came_can_be_let_in,
    test_bad_messages_get_typed_errors_and_the_connection_stays,
    test_client_admitted_before_a_waiting_interpreter,
    test_deny_remove_end,
    test_end_reaches_everyone_and_leave_then_rejoin_waits_again,
    test_expired_and_revoked_links,
    test_failed_blocking_checklist_item_refuses_admission,
    test_flood_is_rate_limited_then_closed,
    test_handshake_errors,
    test_invitation_can_be_sent_and_interpreter_needs_a_reason,
    test_link_is_used_up_and_page_reveals_nothing,
    test_missing_checklists_refuse_admission,
    test_no_face_to_face_contact_refuses_admission_even_when_admit_is_sent,
    test_reconnect_keeps_admission,
    test_second_tab_replaces_the_first,
    test_three_way_call_with_interpreter,
    test_two_way_call_admission_and_relay,
    test_waiting_client_cannot_admit_itself_or_send,
    test_wrong_birth_dates_lock_the_link_and_tell_the_practitioner,
)
from tests.test_signalling import call as call_fixture

# The fixtures: two processes sharing one database and one Redis (tests/split.py).
redis_prefix, port_a, settings = split.redis_prefix, split.port_a, split.settings
aiohttp_client_cls, client, call = split.aiohttp_client_cls, split.client, call_fixture


async def test_the_two_processes_really_talk_through_redis(client, app, db, call):
    doctor, person, _client_id = await admitted_pair(client, call)
    bus_a, bus_b = app[BUS], client.other.app[BUS]
    assert isinstance(bus_a, RedisBus) and isinstance(bus_b, RedisBus)
    assert bus_a.process != bus_b.process
    assert bus_a.published > 0 and bus_b.published > 0


async def test_a_burst_of_relays_waits_for_a_redis_connection_and_none_is_lost(redis_prefix):
    """300 messages published at once from one process (more than its pool of Redis
    connections): each waits its turn for a connection; none is refused or lost."""
    import asyncio

    from signalling.redis_bus import POOL_CONNECTIONS, connect

    sender, receiver = connect(split.REDIS_URL, redis_prefix, 15), connect(
        split.REDIS_URL, redis_prefix, 15)
    got: list[int] = []
    all_in = asyncio.Event()

    async def deliver(message):  # type: ignore[no-untyped-def]
        if "n" in message:
            got.append(message["n"])
            if len(got) == 300:
                all_in.set()

    await sender.start()
    await receiver.start()
    try:
        await receiver.attach(1, 2, f"{receiver.process}-c1", deliver)
        assert POOL_CONNECTIONS < 300
        await asyncio.gather(*(sender.send(1, 2, {"type": "candidate", "n": n})
                               for n in range(300)))
        await asyncio.wait_for(all_in.wait(), 60)
        assert sorted(got) == list(range(300))
    finally:
        await receiver.close()
        await sender.close()
