"""A poor line without `tc netem`: packets held in the kernel and let go late, from userspace.

Not a test module. Some kernels (Firecracker's, some containers') have no sch_netem and no
other qdisc that delays, but they have NFQUEUE. iptables hands each packet of a home's line
to queue `--queue` (`-j NFQUEUE`, tests/netns.py); this process, run inside the router's
namespace, reads the queue over netlink (NETLINK_NETFILTER, metadata only: the packet stays
in the kernel) and gives each packet its verdict late: ACCEPT after a delay drawn uniformly
from [delay - jitter, delay + jitter] (what netem's `delay 150ms 50ms` draws), DROP for a
share `--loss` of them, from a seeded random generator. Packets keep their addresses,
conntrack and NAT entries, so TURN allocations and ICE work as on any slow line; as with
netem's jitter, a packet may overtake an earlier one.

    ip netns exec rc13rb python -m tests.impairment --queue 132 --delay-ms 150 \
        --jitter-ms 50 --loss 0.02 --seed 132

Prints "ready" once bound (only then may the iptables rule go in: a queue without a reader
drops everything), runs until SIGTERM or until the process that started it ends, lets go
whatever it still holds, and prints "delayed N dropped M mean X ms" (the mean of the delays
it drew). Only the standard library.
"""

from __future__ import annotations

import argparse
import errno
import heapq
import os
import random
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_PACKET_HDR, NFQA_VERDICT_HDR = 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN = 1, 2, 3
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NF_DROP, NF_ACCEPT = 0, 1
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
MAX_QUEUED = 8192


def _attribute(kind: int, payload: bytes) -> bytes:
    size = 4 + len(payload)
    return struct.pack("=HH", size, kind) + payload + b"\0" * (-size % 4)


def _message(kind: int, queue: int, attributes: bytes, seq: int, flags: int = 0) -> bytes:
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue)) + attributes
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | kind,
                       NLM_F_REQUEST | flags, seq, 0) + body


def _attributes(data: bytes) -> dict[int, bytes]:
    found, offset = {}, 0
    while offset + 4 <= len(data):
        size, kind = struct.unpack_from("=HH", data, offset)
        if size < 4:
            break
        found[kind & 0x7FFF] = data[offset + 4:offset + size]
        offset += (size + 3) & ~3
    return found


class Queue:
    """One bound NFQUEUE: `packets()` yields the ids waiting, `verdict()` lets one go."""

    def __init__(self, number: int) -> None:
        self.number, self.seq = number, 0
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE (root)
        self.sock.bind((0, 0))
        self._config(_attribute(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_BIND,
                                                           socket.AF_INET)))
        self._config(_attribute(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META))
                     + _attribute(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", MAX_QUEUED)))

    def _config(self, attributes: bytes) -> None:
        self.seq += 1
        self.sock.send(_message(NFQNL_MSG_CONFIG, self.number, attributes, self.seq,
                                NLM_F_ACK))
        reply = self.sock.recv(65536)
        kind = struct.unpack_from("=H", reply, 4)[0]
        error = struct.unpack_from("=i", reply, 16)[0] if kind == NLMSG_ERROR else 0
        if error:
            raise OSError(-error, f"NFQUEUE {self.number}: {os.strerror(-error)}")

    def packets(self) -> list[int]:
        """The ids of every packet queued so far (without waiting)."""
        ids: list[int] = []
        while True:
            try:
                data = self.sock.recv(1 << 16, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return ids
            except OSError as exc:  # ENOBUFS: the kernel dropped messages; carry on
                if exc.errno != errno.ENOBUFS:
                    raise
                continue
            ids.extend(self._ids(data))

    @staticmethod
    def _ids(data: bytes) -> list[int]:
        ids, offset = [], 0
        while offset + 16 <= len(data):
            size, kind = struct.unpack_from("=IH", data, offset)
            if size < 16:
                break
            if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                header = _attributes(data[offset + 20:offset + size]).get(NFQA_PACKET_HDR)
                if header:
                    ids.append(struct.unpack_from("!I", header)[0])
            offset += (size + 3) & ~3
        return ids

    def verdict(self, packet: int, verdict: int) -> None:
        self.seq += 1
        self.sock.send(_message(NFQNL_MSG_VERDICT, self.number, _attribute(
            NFQA_VERDICT_HDR, struct.pack("!II", verdict, packet)), self.seq))


def serve(queue: Queue, delay: float, jitter: float, loss: float, seed: int) -> str:
    """Hold and release until SIGTERM; returns the summary line."""
    chance = random.Random(seed)
    held: list[tuple[float, int]] = []
    stopping = False
    delayed = dropped = 0
    total = 0.0

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    parent = os.getppid()
    while not stopping and os.getppid() == parent:  # the test gone: so is its line
        now = time.monotonic()
        while held and held[0][0] <= now:
            queue.verdict(heapq.heappop(held)[1], NF_ACCEPT)
        wait = max(0.0, held[0][0] - now) if held else 0.5
        try:
            readable, _, _ = select.select([queue.sock], [], [], wait)
        except InterruptedError:
            continue
        if not readable:
            continue
        arrived = time.monotonic()
        for packet in queue.packets():
            if chance.random() < loss:
                queue.verdict(packet, NF_DROP)
                dropped += 1
                continue
            hold = chance.uniform(delay - jitter, delay + jitter)
            heapq.heappush(held, (arrived + hold, packet))
            delayed += 1
            total += hold
    for _, packet in held:  # let go whatever is still held: the line is good again
        queue.verdict(packet, NF_ACCEPT)
    mean = total / delayed * 1000 if delayed else 0.0
    return f"delayed {delayed} dropped {dropped} mean {mean:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=150.0)
    parser.add_argument("--jitter-ms", type=float, default=50.0)
    parser.add_argument("--loss", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    queue = Queue(args.queue)
    print("ready", flush=True)
    summary = serve(queue, args.delay_ms / 1000, args.jitter_ms / 1000, args.loss, args.seed)
    print(summary, flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
