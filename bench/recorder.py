"""The recorder's cost: CPU per recorded stream, and how many streams one core keeps up with.

Run: `python -m bench.recorder [--streams 1 2 4] [--seconds 8]`. A separate process plays N
participants (aiortc peers sending 320×240 video at 15 fps, what the call page sends the
recorder, plus Opus audio); this process runs the real `RecorderManager`: receiving, decoding,
re-encoding VP8/Opus, sealing to disk. Its CPU time (all threads) over a measured window,
divided by the window and N, is the CPU per stream. "Real time" is checked from the files:
the recorded media must cover the window. Writes the "Recorder" section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import platform
import resource
import tempfile
import time
from fractions import Fraction
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import av
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from bench.report import DOC, write_section
from media.recorder import RecorderManager
from media.sealed import new_key_entry, open_sealed
from server.recordings.keyring import parse_keys

HEADING = "Recorder"
W, H, FPS = 320, 240, 15


class Moving(VideoStreamTrack):
    """A grey picture with a bright bar sweeping across: cheap to make, real work to encode."""

    def __init__(self) -> None:
        super().__init__()
        self.index = 0
        self.start: float | None = None

    async def recv(self) -> Any:
        if self.start is None:
            self.start = time.monotonic()
        due = self.start + self.index / FPS
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        frame = av.VideoFrame(W, H, "yuv420p")
        bar = (self.index * 8) % W
        row = bytes([90] * bar + [235] * 16 + [90] * max(0, W - bar - 16))[:W]
        y, u, v = frame.planes
        y.update(row * H + bytes(y.buffer_size - W * H))
        u.update(bytes([128]) * u.buffer_size)
        v.update(bytes([128]) * v.buffer_size)
        frame.pts, frame.time_base = int(self.index * 90000 / FPS), Fraction(1, 90000)
        self.index += 1
        return frame


async def _senders(conn: Connection, streams: int, seconds: float) -> None:
    pcs = []
    for _ in range(streams):
        pc = RTCPeerConnection()
        pc.addTrack(AudioStreamTrack())
        pc.addTrack(Moving())
        await pc.setLocalDescription(await pc.createOffer())
        pcs.append(pc)
    conn.send([pc.localDescription.sdp for pc in pcs])
    answers = conn.recv()
    for pc, sdp in zip(pcs, answers, strict=True):
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
    await asyncio.sleep(seconds)
    for pc in pcs:
        await pc.close()


def _sender_process(conn: Connection, streams: int, seconds: float) -> None:
    asyncio.run(_senders(conn, streams, seconds))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(streams: int, seconds: float, warmup: float = 3.0) -> dict[str, float]:
    """Record `streams` participants for `seconds` after a warm-up; CPU and coverage."""
    folder = Path(tempfile.mkdtemp(prefix="rapport-bench-rec-"))
    ring = parse_keys((new_key_entry("bench"),), "bench")
    manager = RecorderManager(folder, ring, size=(W, H))
    await manager.start(1, 1, 1)
    parent, child = mp.get_context("spawn").Pipe()
    proc = mp.get_context("spawn").Process(target=_sender_process,
                                           args=(child, streams, warmup + seconds + 2))
    proc.start()
    loop = asyncio.get_running_loop()
    offers = await loop.run_in_executor(None, parent.recv)
    parent.send([await manager.accept(1, i + 1, sdp) for i, sdp in enumerate(offers)])
    accepted = time.monotonic()
    await asyncio.sleep(warmup)
    writers = manager.live[1].writers.values()
    cpu0, wall0, busy0 = _cpu(), time.monotonic(), sum(w.busy for w in writers)
    await asyncio.sleep(seconds)
    cpu1, wall1, busy1 = _cpu(), time.monotonic(), sum(w.busy for w in writers)
    dropped = sum(w.dropped for w in manager.live[1].writers.values())
    frames = sum(w.frames for w in manager.live[1].writers.values())
    await manager.stop(1)
    stopped = time.monotonic()
    await loop.run_in_executor(None, proc.join, 30)
    covered = await asyncio.to_thread(
        lambda: min(_duration(p, ring.keys) for p in folder.rglob("*.sealed")))
    cpu = (cpu1 - cpu0) / (wall1 - wall0)
    return {"streams": streams, "cpu_per_stream": cpu / streams, "cpu_total": cpu,
            "encode_share": (busy1 - busy0) / max(cpu1 - cpu0, 1e-9),
            "covered": covered, "expected": stopped - accepted, "dropped": dropped,
            "frames": frames}  # frames = audio and video frames written


def _duration(path: Path, keys: Any) -> float:
    import io

    with path.open("rb") as fh:
        data = b"".join(open_sealed(fh, keys))
    with av.open(io.BytesIO(data)) as container:
        return max((float(p.pts * p.time_base) for p in container.demux() if p.pts is not None),
                   default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    results = [asyncio.run(measure(n, args.seconds)) for n in args.streams]
    rows = []
    for r in results:
        print(f"{r['streams']} stream(s): {r['cpu_per_stream'] * 100:.0f}% of a core each, "
              f"{r['cpu_total'] * 100:.0f}% in all ({r['encode_share'] * 100:.0f}% of it "
              f"re-encoding and sealing); recorded {r['covered']:.1f}s of "
              f"~{r['expected']:.1f}s; {r['dropped']} video frames dropped, "
              f"{r['frames']} frames written")
        rows.append(f"| {r['streams']} | {r['cpu_per_stream'] * 100:.0f} % | "
                    f"{r['cpu_total'] * 100:.0f} % | {r['encode_share'] * 100:.0f} % | "
                    f"{r['covered']:.1f} s of "
                    f"~{r['expected']:.1f} s | {r['dropped']} / {r['frames']} |")
    per_stream = min(r["cpu_per_stream"] for r in results)
    clean = max((r["streams"] for r in results
                 if r["dropped"] < 0.1 * r["streams"] * FPS * r["expected"]), default=0)
    worst = max(r["cpu_per_stream"] for r in results)
    body = "\n".join([
        f"`python -m bench.recorder --streams {' '.join(map(str, args.streams))} --seconds "
        f"{args.seconds:g}` on {platform.machine()}, Python {platform.python_version()}, "
        f"PyAV {av.__version__}. One recorded stream = one participant's {W}×{H} video at "
        f"{FPS} fps plus Opus audio (what the call page sends the recorder), received by "
        "aiortc, re-encoded to VP8/Opus (libvpx realtime, cpu-used 8) and sealed "
        "(AES-256-GCM) to disk. CPU = this process's user+system time, all threads, over "
        "the measured window; senders run in another process and are not counted.",
        "",
        "| streams | CPU per stream | CPU in all | of which re-encode + seal | recorded "
        "(from the files) | video frames dropped / frames written |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"So one core records about **{1 / worst:.0f} streams** at the worst per-stream cost "
        f"measured ({worst * 100:.0f} % each; best {per_stream * 100:.0f} %); without "
        f"skipping more than a tenth of the video frames, **{clean} stream(s)**. "
        "A three-person session is three streams. The rest of the cost, beyond re-encoding "
        "and sealing, is aiortc's own receive path (ICE/SRTP in Python, jitter buffer, VP8 "
        "and Opus decoding). Video frames are skipped (never queued) when the encoder is "
        "behind; on this loaded machine that happens even at "
        "low CPU, when the encoding thread is not scheduled in time.",
        "",
        "Measured on the shared 2-core development machine while other agents ran test "
        "suites (load average often above 5): treat the numbers as an upper bound on cost "
        "and re-run on quiet hardware before sizing a server.",
    ])
    write_section(HEADING, body)
    print(f"wrote the {HEADING!r} section of {DOC}")


if __name__ == "__main__":
    main()
