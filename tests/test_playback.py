"""Playing a recording in the page: the page and the media URL over HTTP — range requests
give back exactly the plaintext, the same people as the download, one audit entry per
viewing (in the client's access log), and recordings that may no longer be played refused
(the download too)."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path

import av
from sqlalchemy import select

from consent.wording import KEEP_VERSION
from media.sealed import SealedWriter
from server import keys
from server.clock import now
from server.recordings.keyring import key_ring
from server.store.models import Appointment, AppointmentKind, AuditEvent, Recording, RecordingState
from tests.recording import RECORDING_FILE, decrypt, sealed_recording, served


async def _recording(db, app, world, *, small_chunks: bool = True, **kw) -> tuple[int, bytes]:
    """A finished recording of alice's client a1; its id and its file's plaintext as served
    (with its footer's patch laid over)."""
    async with db.begin() as s:
        appointment = Appointment(
            client_id=world.clients["a1"].id, practitioner_id=world.users["alice"].id,
            kind=AppointmentKind.REMOTE, starts_at=now(), duration_minutes=30, created_at=now())
        s.add(appointment)
        await s.flush()
        rid = await sealed_recording(s, app, appointment, **kw)
        row = await s.get(Recording, rid)
        assert row is not None and row.file_path
        path = Path(app[keys.SETTINGS].recordings_dir) / row.file_path / RECORDING_FILE
    ring = key_ring(app[keys.SETTINGS])
    plain = decrypt(path, ring)
    if small_chunks:  # sealed again in 500-byte chunks, so ranges cross many of them
        with path.open("wb") as out:
            writer = SealedWriter(out, ring.current, ring.keys[ring.current], chunk=500,
                                  every=None)
            writer.write(plain)
            writer.close()
    return rid, served(plain)


async def _change(db, rid: int, **values) -> None:
    async with db.begin() as s:
        row = await s.get(Recording, rid)
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)


async def _media_url(staff, rid: int) -> str:
    page = await staff.get(f"/recordings/{rid}/play?file={RECORDING_FILE}")
    assert page.status == 200
    found = re.search(r'<video[^>]* src="([^"]+)"', await page.text())
    assert found is not None
    return found[1].replace("&amp;", "&")


async def _plays(db) -> list[AuditEvent]:
    async with db() as s:
        return list(await s.scalars(select(AuditEvent).where(
            AuditEvent.action == "recording.play").order_by(AuditEvent.seq)))


async def test_ranges_give_back_exactly_the_plaintext(client, app, db, world, login):
    rid, plain = await _recording(db, app, world, seconds=2.0)
    size = len(plain)
    assert size > 3000  # so the ranges below cross chunk boundaries (500 bytes each)
    staff = await login(world.users["alice"])
    url = await _media_url(staff, rid)
    whole = await staff.get(url)
    assert whole.status == 200 and await whole.read() == plain
    with av.open(io.BytesIO(plain)) as container:  # served with its length
        assert container.duration is not None and 1.8e6 <= container.duration <= 2.2e6
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert whole.headers["Content-Length"] == str(size)
    for header, first, last in [
            ("bytes=0-0", 0, 0), (f"bytes={size - 1}-{size - 1}", size - 1, size - 1),
            ("bytes=0-", 0, size - 1), ("bytes=100-", 100, size - 1),
            ("bytes=499-500", 499, 500), ("bytes=700-2699", 700, 2699),
            ("bytes=-500", size - 500, size - 1), (f"bytes=2000-{size * 2}", 2000, size - 1)]:
        response = await staff.get(url, headers={"Range": header})
        assert response.status == 206, header
        assert response.headers["Content-Range"] == f"bytes {first}-{last}/{size}", header
        assert response.headers["Content-Type"] == "video/webm"
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Accept-Ranges"] == "bytes"
        for security in ("Content-Security-Policy", "X-Content-Type-Options",
                         "Referrer-Policy"):
            assert security in response.headers, security
        assert await response.read() == plain[first:last + 1], header


async def test_bad_ranges_are_416(client, app, db, world, login):
    rid, plain = await _recording(db, app, world)
    staff = await login(world.users["alice"])
    url = await _media_url(staff, rid)
    for header in (f"bytes={len(plain)}-", "bytes=50-10", "bytes=abc", "bytes=0-1,4-5",
                   "bytes=-0"):
        response = await staff.get(url, headers={"Range": header})
        assert response.status == 416, header
        assert response.headers["Content-Range"] == f"bytes */{len(plain)}"
        assert response.headers["Content-Type"].startswith("application/problem+json")
        assert f"it has {len(plain)} bytes" in (await response.json())["detail"], header


async def test_one_audit_entry_per_viewing_in_the_access_log(client, app, db, world, login):
    rid, _plain = await _recording(db, app, world)
    staff = await login(world.users["alice"])
    url = await _media_url(staff, rid)
    for header in ("bytes=0-", "bytes=100-200", "bytes=-300", "bytes=0-"):
        assert (await staff.get(url, headers={"Range": header})).status == 206
    [play] = await _plays(db)
    assert play.actor_id == world.users["alice"].id and play.target_id == str(rid)
    assert play.client_id == world.clients["a1"].id and play.detail["file"] == RECORDING_FILE
    assert play.detail["viewing"] in url
    again = await _media_url(staff, rid)  # the page opened again: a new viewing
    assert again != url
    assert (await staff.get(again, headers={"Range": "bytes=0-"})).status == 206
    assert len(await _plays(db)) == 2
    # Someone else using the same viewing id is audited for themselves.
    sue = await login(world.users["sue"])
    assert (await sue.get(url, headers={"Range": "bytes=0-"})).status == 206
    plays = await _plays(db)
    assert [p.actor_id for p in plays] == [world.users[n].id for n in ("alice", "alice", "sue")]
    dpo = await login(world.users["olive"])
    log = await dpo.get(f"/api/v1/clients/{world.clients['a1'].id}/access-log")
    assert log.status == 200
    actions = [e["action"] for e in (await log.json())["items"]]
    assert actions.count("recording.play") == 3 and "recording.view" in actions
    page = await dpo.get(f"/privacy/clients/{world.clients['a1'].id}")
    assert (await page.text()).count("A recording was played") == 3  # in words, on the page


async def test_only_the_holder_and_their_supervisor(client, app, db, world, login):
    rid, _plain = await _recording(db, app, world)
    alice = await login(world.users["alice"])
    url = await _media_url(alice, rid)
    for name, status in [("sue", 200), ("bob", 404), ("carol", 404), ("adam", 403),
                         ("olive", 403)]:
        staff = await login(world.users[name])
        page = await staff.get(f"/recordings/{rid}/play?file={RECORDING_FILE}")
        assert page.status == status, name
        media = await staff.get(url, headers={"Range": "bytes=0-"})
        assert media.status == (206 if status == 200 else status), name
    assert {p.actor_id for p in await _plays(db)} == {world.users["sue"].id}


async def test_bad_file_viewing_and_id(client, app, db, world, login):
    rid, _plain = await _recording(db, app, world)
    staff = await login(world.users["alice"])
    base = f"/api/v1/recordings/{rid}/media"
    for query, status in [(f"?file={RECORDING_FILE}", 400),
                          (f"?file={RECORDING_FILE}&viewing=short", 400),
                          (f"?file=../../etc/passwd&viewing={'v' * 16}", 404),
                          (f"?viewing={'v' * 16}", 404)]:
        response = await staff.get(base + query)
        assert response.status == status, query
    assert (await staff.get(f"/api/v1/recordings/999999/media?file={RECORDING_FILE}"
                            f"&viewing={'v' * 16}")).status == 404
    assert (await staff.get(f"/recordings/{rid}/play?file=nothing.webm.sealed")).status == 404
    assert await _plays(db) == []


async def test_recordings_that_may_no_longer_be_played(client, app, db, world, login):
    rid, _plain = await _recording(db, app, world, small_chunks=False)
    staff = await login(world.users["alice"])
    url = await _media_url(staff, rid)
    page_url = f"/recordings/{rid}/play?file={RECORDING_FILE}"
    cases = [
        ({"retention_until": now() - timedelta(minutes=1)}, 410, "could be kept ended"),
        ({"stopped_reason": "withdrawn"}, 410, "cannot be played"),
        ({"state": RecordingState.PAUSED}, 409, "still running"),
        ({"deleted_at": now(), "deleted_reason": "withdrawn"}, 410, "stopped the recording"),
    ]
    for values, status, words in cases:
        before = {"retention_until": now() + timedelta(days=1), "stopped_reason": "ended",
                  "state": RecordingState.STOPPED, "deleted_at": None}
        await _change(db, rid, **{**before, **values})
        page = await staff.get(page_url)
        assert page.status == status, values
        assert words in " ".join((await page.text()).split()), values
        media = await staff.get(url, headers={"Range": "bytes=0-"})
        assert media.status == status, values
        assert media.headers["Content-Type"].startswith("application/problem+json")
        download = await staff.get(f"/api/v1/recordings/{rid}/download?file={RECORDING_FILE}")
        assert download.status == status, values  # the download follows the same rule
    # Withdrawn, but everyone had agreed that what came before a withdrawal is kept.
    await _change(db, rid, deleted_at=None, stopped_reason="withdrawn",
                  wording_version=KEEP_VERSION, state=RecordingState.STOPPED)
    assert (await staff.get(url, headers={"Range": "bytes=0-"})).status == 206
    assert await _plays(db)  # played, and audited


async def test_the_page_in_welsh_and_arabic(client, app, db, world, login):
    rid, _plain = await _recording(db, app, world)
    staff = await login(world.users["alice"])
    for lang, words, direction in [("cy", "Chwarae recordiad", "ltr"),
                                   ("ar", "تشغيل تسجيل", "rtl")]:
        page = await staff.get(f"/recordings/{rid}/play?file={RECORDING_FILE}&lang={lang}")
        text = await page.text()
        assert page.status == 200 and words in text, lang
        assert f'dir="{direction}"' in text
    listing = await staff.get(f"/recordings/{rid}?lang=en")
    assert f"/recordings/{rid}/play?file={RECORDING_FILE}" in await listing.text()


async def test_several_files_side_by_side(client, app, db, world, login):
    rid, plain = await _recording(db, app, world)
    async with db() as s:
        row = await s.get(Recording, rid)
        assert row is not None and row.file_path
    folder = Path(app[keys.SETTINGS].recordings_dir) / row.file_path
    other = "seg001-p999999.webm.sealed"  # a second person's camera in the same part
    (folder / other).write_bytes((folder / RECORDING_FILE).read_bytes())
    staff = await login(world.users["alice"])
    listing = await (await staff.get(f"/recordings/{rid}")).text()
    together = f"/recordings/{rid}/play?file={RECORDING_FILE}&amp;file={other}"
    assert together in listing and "Play everyone side by side (part 1)" in listing
    page = await staff.get(together.replace("&amp;", "&"))
    text = await page.text()
    sources = [s.replace("&amp;", "&") for s in re.findall(r'<video[^>]* src="([^"]+)"', text)]
    assert page.status == 200 and len(sources) == 2 and "Play all" in text
    # Each file says when it began in the part, so "Play all" keeps them in step.
    assert re.findall(r'<video[^>]* data-start="([^"]+)"', text) == ["0.000", "0.000"]
    assert "Play all keeps everyone in step" in text
    viewings = {re.search(r"viewing=([\w-]+)", s)[1] for s in sources}  # type: ignore[index]
    assert len(viewings) == 1  # one viewing for the page, audited once per file
    for source in sources:
        response = await staff.get(source, headers={"Range": "bytes=0-"})
        assert response.status == 206 and await response.read() == plain
    assert sorted(p.detail["file"] for p in await _plays(db)) == sorted([RECORDING_FILE, other])
    # A file cut short (no footer) does not say when it began: no promise of step.
    cut = folder / "seg001-p999998.webm.sealed"
    cut.write_bytes((folder / RECORDING_FILE).read_bytes()[:-40])
    text = await (await staff.get(f"/recordings/{rid}/play?file={RECORDING_FILE}"
                                  f"&file={cut.name}")).text()
    assert len(re.findall(r'<video[^>]* data-start="', text)) == 1
    assert "may be a few seconds apart" in text
    many = "&".join(f"file={RECORDING_FILE}{'x' * i}" for i in range(5))
    assert (await staff.get(f"/recordings/{rid}/play?{many}")).status == 400
