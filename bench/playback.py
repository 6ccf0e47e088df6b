"""Seeking in a long recording, in Chromium: what the seek index saves.

Run: `python -m bench.playback [--minutes 60] [--mbit 20] [--no-write]`. Writes a recording of
`--minutes` of real VP8 (320×240 at 15 fps, a key frame every 5 s, as the recorder asks for
them) and Opus through the recorder's own writer (`media.writer.StreamWriter`: sealed, with
its seek index and length), and the same media written without them (as files were before
the index). A practitioner opens each in the playback page in headless Chromium, waits for
its metadata, then seeks to 90 % of it and, from there, back to 30 %. Measured for each:
the plaintext bytes the server decrypted and sent (`server.recordings.playback.read_range`,
counted) and the time from setting `currentTime` to the picture being ready to play
(`seeked`, then `readyState` ≥ 3): on loopback, and with Chromium's network emulation as a
line of `--mbit` Mbit/s down and 20 ms each way (a practitioner's home broadband). Writes
the "Recording playback: seeking" section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from sqlalchemy import select

from bench.live import served, staff_sign_in
from bench.report import DOC, write_section
from media.lipsync import TrackClock
from media.passthrough import Encoded
from media.sealed import new_key_entry
from media.writer import StreamWriter
from server import demo, keys
from server.recordings import playback
from server.recordings.keyring import parse_keys
from server.store.models import Appointment, Recording
from tests.recording import RECORDING_FILE, sealed_recording

HEADING = "Recording playback: seeking"
FPS, GOP = 15, 75  # a key frame every 5 s
W, H = 320, 240
PLAIN = "seg001-p999999.webm.sealed"  # the copy without the index


def _gop() -> tuple[list[bytes], list[bytes]]:
    """Five seconds of real VP8 (one key frame, then deltas) and of Opus."""
    video = av.CodecContext.create("libvpx", "w")
    video.width, video.height, video.pix_fmt = W, H, "yuv420p"
    video.time_base, video.framerate = Fraction(1, FPS), Fraction(FPS)
    video.bit_rate, video.gop_size = 300_000, 10_000
    video.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    pictures: list[bytes] = []
    for i in range(GOP):
        frame = av.VideoFrame(W, H, "yuv420p")
        for n, plane in enumerate(frame.planes):
            plane.update(bytes((x + i * 3 + n * 40) % 256 for x in range(plane.buffer_size)))
        frame.pts = i
        pictures += [bytes(p) for p in video.encode(frame)]
    pictures += [bytes(p) for p in video.encode(None)]
    sound = av.CodecContext.create("libopus", "w")
    sound.sample_rate, sound.layout, sound.format = 48000, "stereo", "s16"
    clips: list[bytes] = []
    for j in range(GOP * 48000 // FPS // 960):
        frame = av.AudioFrame(format="s16", layout="stereo", samples=960)
        frame.planes[0].update(bytes(frame.planes[0].buffer_size))
        frame.sample_rate, frame.pts = 48000, j * 960
        clips += [bytes(p) for p in sound.encode(frame)]
    return pictures[:GOP], clips


def _frames(minutes: float) -> Iterator[Encoded]:
    pictures, clips = _gop()
    per_clip = len(clips)
    for g in range(int(minutes * 60 * FPS / GOP)):
        for i, data in enumerate(pictures):
            yield Encoded("video", "vp8", data, (g * GOP + i) * 90000 // FPS, 90000)
            for j in range(i * per_clip // GOP, (i + 1) * per_clip // GOP):
                yield Encoded("audio", "opus", clips[j], (g * per_clip + j) * 960, 48000)


def _write(path: Path, ring: Any, minutes: float, indexed: bool) -> int:
    """The file, as the recorder writes it (or without the index); its size."""
    writer = StreamWriter(path, ring.current, ring.keys[ring.current], (W, H))
    if not indexed:
        writer._tail = lambda: b""  # type: ignore[method-assign]
    now = time.monotonic()
    clocks = {"video": TrackClock(now), "audio": TrackClock(now)}
    for clock in clocks.values():
        clock.origin = 0
        clock.reported(4000 << 32, 0, now)
    writer.add_stream("video")
    writer.add_stream("audio")
    for frame in _frames(minutes):
        writer.write(frame.kind, frame, clocks[frame.kind])
    writer.finish()
    writer.pool.shutdown()
    return path.stat().st_size


class Counted:
    """Plaintext bytes the media URL decrypted and sent."""

    def __init__(self) -> None:
        self.bytes = 0
        real = playback.read_range

        def counting(*args: Any, **kwargs: Any) -> Iterator[bytes]:
            for piece in real(*args, **kwargs):
                self.bytes += len(piece)
                yield piece

        playback.read_range = counting  # type: ignore[assignment]


SEEK = """async (to) => { const v = document.getElementById('player-1');
  const started = performance.now();
  await new Promise((done) => { v.addEventListener('seeked', done, {once: true});
                                v.currentTime = to; });
  while (v.readyState < 3) await new Promise((r) => setTimeout(r, 10));
  return [performance.now() - started, v.currentTime]; }"""


async def _one(page: Any, counted: Counted, url: str, seconds: float, mbit: float
               ) -> dict[str, Any]:
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 40 if mbit else 0,
        "downloadThroughput": mbit * 1e6 / 8 if mbit else -1,
        "uploadThroughput": mbit * 1e6 / 8 if mbit else -1})
    counted.bytes = 0
    started = time.monotonic()
    await page.goto(url)
    await page.wait_for_function("document.getElementById('player-1').readyState >= 1",
                                 timeout=600_000)
    opened = time.monotonic() - started
    duration = await page.evaluate("document.getElementById('player-1').duration")
    row: dict[str, Any] = {"open_s": opened, "open_bytes": counted.bytes,
                           "duration": duration, "seeks": []}
    for fraction in (0.9, 0.3):
        counted.bytes = 0
        took, landed = await page.evaluate(SEEK, seconds * fraction)
        row["seeks"].append((fraction, took / 1000, counted.bytes, landed))
    return row


async def measure(minutes: float, mbit: float) -> dict[str, Any]:
    key = new_key_entry("bench")
    async with served(recording_keys=(key,), recording_key_id="bench") as (app, base, browser):
        settings = app[keys.SETTINGS]
        async with app[keys.DB].begin() as db:
            result = await demo.load(db, settings)
        email, password = result.logins["practitioner"]
        async with app[keys.DB].begin() as db:
            appointment = await db.scalar(select(Appointment).limit(1))
            assert appointment is not None
            rid = await sealed_recording(db, app, appointment, seconds=0.2)
            row = await db.get(Recording, rid)
            assert row is not None and row.file_path
        folder = Path(settings.recordings_dir) / row.file_path
        ring = parse_keys(settings.recording_keys, settings.recording_key_id)
        (folder / RECORDING_FILE).unlink()  # the short file sealed_recording made
        started = time.monotonic()
        sizes = {RECORDING_FILE: await asyncio.to_thread(
                     _write, folder / RECORDING_FILE, ring, minutes, True),
                 PLAIN: await asyncio.to_thread(_write, folder / PLAIN, ring, minutes, False)}
        print(f"wrote two {minutes:g}-minute files in {time.monotonic() - started:.0f} s: "
              f"{sizes}", flush=True)
        counted = Counted()
        context = await browser.new_context(base_url=base)
        page = await context.new_page()
        await staff_sign_in(app, page, email, password)
        out: dict[str, Any] = {"minutes": minutes, "size": sizes[RECORDING_FILE],
                               "load": os.getloadavg()[0]}
        out["mbit"] = mbit
        for line in (0.0, mbit):
            for name, label in ((RECORDING_FILE, "indexed"), (PLAIN, "plain")):
                key = f"{label}@{line:g}"
                out[key] = await _one(page, counted, f"/recordings/{rid}/play?file={name}",
                                      minutes * 60, line)
                print(key, out[key], flush=True)
        out["load"] = max(out["load"], os.getloadavg()[0])
        return out


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.0f} KB"


def _body(r: dict[str, Any], command: str) -> list[str]:
    rows = []
    runs = [(line, label, title) for line in (0.0, r["mbit"])
            for label, title in (("indexed", "with the seek index (as written now)"),
                                 ("plain", "without it (as written before)"))]
    for line, label, title in runs:
        one = r[f"{label}@{line:g}"]
        where = "loopback" if not line else f"{line:g} Mbit/s, 20 ms each way"
        seeks = "; ".join(f"to {f * 100:.0f} %: {t:.2f} s, {_mb(b)}"
                          for f, t, b, _ in one["seeks"])
        duration = (f"{one['duration']:.0f} s" if one["duration"] not in (None, float("inf"))
                    else "unknown")
        rows.append(f"| {where} | {title} | {duration} | {one['open_s']:.2f} s, "
                    f"{_mb(one['open_bytes'])} | {seeks} |")
    return [
        f"`{command}`: one person's file of {r['minutes']:g} minutes ({_mb(r['size'])}): real "
        f"VP8 {W}×{H} at {FPS} fps with a key frame every 5 s, and Opus, written by the "
        "recorder's own `StreamWriter` (sealed), and the same media without the seek index. "
        "Opened in the playback page in headless Chromium, then seeked to 90 % and back to "
        "30 %; bytes are the plaintext the server decrypted and sent for each step (all its "
        "range requests), times from setting `currentTime` to the picture ready to play.",
        "",
        "| line | file | duration shown | open (to metadata) | seeks |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "The megabytes a step costs beyond what it needs are the player's own read-ahead "
        "(it keeps a few megabytes buffered past the playing point). Without the index, the "
        "player reads the whole file through to reach the point (and on loopback re-reads "
        "parts of it), and shows no length. With the Cues only at the end of the file, as "
        "first written, Chromium also read the whole file through before its first seek, "
        "to reach them (54 s at 20 Mbit/s): so they are served before the first cluster "
        "(`media/seek_index.py`).",
        "",
        f"Load average (1 min): {r['load']:.1f} on 2 cores. Measured "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC on a 2-core development machine; re-run on "
        "the servers to be used.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--mbit", type=float, default=20.0)
    parser.add_argument("--no-write", action="store_true", help="do not update the doc")
    args = parser.parse_args()
    result = asyncio.run(measure(args.minutes, args.mbit))
    print("RESULT " + json.dumps(result, default=str))
    if args.no_write:
        return
    write_section(HEADING, "\n".join(_body(result, f"python -m bench.playback --minutes "
                                                   f"{args.minutes:g} --mbit {args.mbit:g}")))
    print(f"wrote the {HEADING!r} section of {DOC}")


if __name__ == "__main__":
    main()
