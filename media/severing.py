"""Cut a peer connection's media in the same turn of the event loop (issue #19).

aiortc's `RTCPeerConnection.close()` is a chain of awaits that each need a turn of the loop:
each receiver's RTCP task is cancelled and waited for, then the ICE agent's consent and check
tasks, then each socket's `connection_lost`. Under load each turn can take tens of
milliseconds. `sever` starts all of those at once, without waiting: the sockets close (no
packet is read from now on) and the tasks are cancelled, so that the `close()` that follows
finds them finished and closes in about one turn. Anything this aiortc does not have is left
to `close()`, which remains what closes the connection.
"""

from __future__ import annotations

import contextlib
from typing import Any

from aiortc import RTCPeerConnection

_RTCP_TASK = "_RTCRtpReceiver__rtcp_task"  # aiortc 1.x's receiver RTCP loop


def sever(pc: RTCPeerConnection) -> None:
    """Close `pc`'s sockets and cancel its media tasks now; `pc.close()` does the rest."""
    for transceiver in pc.getTransceivers():
        task = getattr(transceiver.receiver, _RTCP_TASK, None)
        if task is not None and not task.done():
            task.cancel()
        dtls = transceiver.receiver.transport
        connection: Any = getattr(getattr(dtls, "transport", None), "_connection", None)
        if connection is None:
            continue
        consent = getattr(connection, "_query_consent_task", None)
        if consent is not None and not consent.done():
            consent.cancel()
        for pair in getattr(connection, "_check_list", ()):
            if getattr(pair, "task", None) is not None and not pair.task.done():
                pair.task.cancel()
        for protocol in getattr(connection, "_protocols", ()):
            with contextlib.suppress(AttributeError, OSError):
                protocol.transport.close()
