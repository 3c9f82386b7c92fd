"""Marked playback: a viewing is a kind of export made for its viewer (issue 18).

One vault per module: a 10 s clip, a records custodian watching it in 2 s segments. The
segments a client receives, joined, are traced back to the viewing and its viewer."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import av
import pytest

from custodes import bootstrap
from custodes.bootstrap import Vault
from custodes.config import Settings
from custodes.core.errors import (
    IntegrityFailure,
    InvalidInput,
    NotFound,
    PermissionDenied,
    ReasonRequired,
)
from custodes.media.hls import SegmentPlan
from custodes.media.synth import write_bodycam_clip
from custodes.services import evidence, trace, verify, viewings
from custodes.services.audit import list_events
from tests.conftest import S3Bucket
from tests.factories import add_case, add_user


@dataclass(frozen=True)
class World:
    vault: Vault
    root: Path
    rec: str
    other: str
    ia: str
    ev: str
    sensitive_ev: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("viewings")
    clip = write_bodycam_clip(root / "src.mp4", seconds=10, width=320, height=180, fps=15, seed=21)
    small = write_bodycam_clip(root / "small.mp4", seconds=2, width=320, height=180, fps=15, seed=5)
    vault = bootstrap.init_vault(Settings(home=root / "v"))
    rec = add_user(vault, "records")
    other = add_user(vault, "records")
    ia = add_user(vault, "internal-affairs")
    ev = evidence.ingest(vault, rec, clip, add_case(vault))
    flagged = add_case(vault, flags=("sensitive",))
    sensitive = evidence.ingest(vault, rec, small, flagged)
    yield World(vault, root, rec, other, ia, ev.evidence_id, sensitive.evidence_id)
    vault.engine.dispose()


def _events(vault: Vault, action: str) -> list[dict]:
    with vault.uow(readonly=True) as uow:
        return [e for e in list_events(uow) if e["action"] == action]


def test_segment_plan_has_fixed_boundaries() -> None:
    plan = SegmentPlan(1.0, 6.5, 2.0)
    assert plan.count == 3
    assert [plan.bounds(n) for n in range(3)] == [(1.0, 3.0), (3.0, 5.0), (5.0, 6.5)]
    assert plan.segment_of(4.9) == 1
    with pytest.raises(InvalidInput):
        plan.bounds(3)


def test_a_viewing_is_on_record_and_bound_to_the_log(world: World) -> None:
    v = world.vault
    started = viewings.start_viewing(v, world.rec, viewings.StartViewing(world.ev, start=2, end=9))
    assert (started.start_s, started.end_s, started.segments) == (2.0, 9.0, 4)
    assert started.viewer == world.rec and (started.width, started.height) == (320, 180)
    event = _events(v, "viewing-started")[-1]
    assert event["object_id"] == started.viewing_id and event["actor"] == world.rec
    listed = viewings.list_viewings(v, world.ia, world.ev)
    assert started.viewing_id in {x.viewing_id for x in listed}
    text = viewings.viewing_playlist(v, world.rec, started.viewing_id)
    assert text.startswith("#EXTM3U") and text.rstrip().endswith("#EXT-X-ENDLIST")
    assert [ln for ln in text.splitlines() if ln.endswith(".ts")] == [
        f"segments/{n}.ts" for n in range(4)
    ]
    report = verify.verify_vault(v, "admin", blobs=False)
    assert not [p for p in report.problems if "viewing" in str(p["detail"])], report.problems


def test_only_the_viewer_fetches_the_stream_and_refusals_are_on_record(world: World) -> None:
    v = world.vault
    started = viewings.start_viewing(v, world.rec, viewings.StartViewing(world.ev))
    before = len(_events(v, "access-refused"))
    with pytest.raises(PermissionDenied, match="only its viewer"):
        viewings.viewing_segment(v, world.other, started.viewing_id, 0)
    with pytest.raises(PermissionDenied):
        viewings.viewing_playlist(v, world.ia, started.viewing_id)
    with pytest.raises(NotFound):
        viewings.viewing_segment(v, world.rec, "VW-NOSUCH", 0)
    with pytest.raises(InvalidInput):
        viewings.viewing_segment(v, world.rec, started.viewing_id, 99)
    refused = _events(v, "access-refused")[before:]
    assert [e["actor"] for e in refused[:2]] == [world.other, world.ia]
    assert len(_events(v, "input-refused") + refused) >= 4


def test_a_sensitive_case_asks_for_the_reason_as_export_does(world: World) -> None:
    v = world.vault
    with pytest.raises(ReasonRequired):
        viewings.start_viewing(v, world.rec, viewings.StartViewing(world.sensitive_ev))
    started = viewings.start_viewing(
        v, world.rec, viewings.StartViewing(world.sensitive_ev, reason="court prep")
    )
    assert started.alerted == ["internal-affairs"]
    event = _events(v, "viewing-started")[-1]
    assert event["reason"] == "court prep"
    assert event["details"]["alerted"]["kind"] == "sensitive-access"
    report = verify.verify_vault(v, "admin", blobs=False)  # the alert is bound to its event
    assert report.ok, report.problems


def test_segments_are_cached_and_ranges_sent_are_recorded(world: World) -> None:
    v = world.vault
    started = viewings.start_viewing(v, world.rec, viewings.StartViewing(world.ev))
    vid = started.viewing_id
    before = len(_events(v, "viewing-range"))
    first = viewings.viewing_segment(v, world.rec, vid, 0)
    assert not first.cached and first.data[:1] == b"\x47"  # an MPEG-TS sync byte
    again = viewings.viewing_segment(v, world.rec, vid, 0)
    assert again.cached and again.data == first.data
    viewings.viewing_segment(v, world.rec, vid, 1)  # contiguous: no new event yet
    viewings.viewing_segment(v, world.rec, vid, 4)  # a seek: the run's tail, then this
    ranges = [e for e in _events(v, "viewing-range")[before:] if e["object_id"] == vid]
    assert [e["details"]["sent"] for e in ranges] == [[[0.0, 2.0]], [[2.0, 4.0], [8.0, 10.0]]]


def test_the_next_segments_are_rendered_ahead_and_not_recorded_as_sent(world: World) -> None:
    v = world.vault
    started = viewings.start_viewing(v, world.rec, viewings.StartViewing(world.ev))
    vid = started.viewing_id
    before = len(_events(v, "viewing-range"))
    assert not viewings.viewing_segment(v, world.rec, vid, 0).cached
    assert v.cache_dir is not None
    ahead = [v.cache_dir / "viewings" / vid / f"{k}.ts" for k in (1, 2)]
    deadline = time.monotonic() + 120
    while not all(p.is_file() for p in ahead) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(p.is_file() for p in ahead)
    assert not (ahead[0].parent / "3.ts").exists()  # PREFETCH = 2 ahead, no more
    sent = [e for e in _events(v, "viewing-range")[before:] if e["object_id"] == vid]
    assert [e["details"]["sent"] for e in sent] == [[[0.0, 2.0]]]  # what was fetched only
    second = viewings.viewing_segment(v, world.rec, vid, 1)
    assert second.cached and second.data == ahead[0].read_bytes()
    # The one rendered ahead is the viewing's own: its joined stream traces to the viewer.
    received = world.root / "ahead.ts"
    received.write_bytes(
        b"".join(viewings.viewing_segment(v, world.rec, vid, n).data for n in (0, 1, 2))
    )
    traced = trace.trace_leak(v, world.ia, received, report_dir=world.root)
    assert traced.attributed == [vid]


def test_a_tampered_viewing_row_is_refused(world: World) -> None:
    v = world.vault
    started = viewings.start_viewing(v, world.rec, viewings.StartViewing(world.ev))
    with v.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE viewings SET viewer = ? WHERE id = ?", (world.other, started.viewing_id)
        )
    try:
        with pytest.raises(IntegrityFailure, match="viewer"):
            viewings.viewing_segment(v, world.other, started.viewing_id, 0)
    finally:
        with v.engine.begin() as conn:
            conn.exec_driver_sql(
                "UPDATE viewings SET viewer = ? WHERE id = ?", (world.rec, started.viewing_id)
            )


def test_the_stream_a_client_received_is_traced_to_the_viewer(world: World) -> None:
    v = world.vault
    started = viewings.start_viewing(v, world.other, viewings.StartViewing(world.ev))
    received = world.root / "received.ts"
    with received.open("wb") as out:
        for n in (1, 2, 3):  # seconds 2 to 8, as a player fetches them
            out.write(viewings.viewing_segment(v, world.other, started.viewing_id, n).data)
    with av.open(str(received)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 6 * 15
    traced = trace.trace_leak(v, world.ia, received, report_dir=world.root)
    assert traced.verdict == "attributed"
    assert traced.attributed == [started.viewing_id]
    named = next(c for c in traced.candidates if c.attributed)
    assert named.recipient == world.other and named.kind == "viewing"
    assert all(not c.attributed for c in traced.candidates if c.export_id != started.viewing_id)


def test_verify_names_a_viewing_row_edited_inserted_or_deleted(world: World) -> None:
    v = world.vault
    vid = viewings.start_viewing(v, world.rec, viewings.StartViewing(world.ev)).viewing_id

    def problems() -> list[str]:
        report = verify.verify_vault(v, "admin", blobs=False)
        return [
            f"{p['kind']}: {p['detail']}" for p in report.problems if "viewing" in str(p["detail"])
        ]

    def sql(statement: str, *args: object) -> None:
        with v.engine.begin() as conn:
            conn.exec_driver_sql(statement, args)

    assert problems() == []
    sql("UPDATE viewings SET start_s = 1.0 WHERE id = ?", vid)
    found = problems()
    assert len(found) == 1 and found[0].startswith("state-row-altered") and vid in found[0]
    sql("UPDATE viewings SET start_s = 0.0 WHERE id = ?", vid)
    columns = "evidence_id, viewer, purpose, created_at, expires_at, start_s, end_s, segment_s, width, height, key_version, mark, visible_text, audit_seq"  # noqa: E501
    sql(
        f"INSERT INTO viewings (id, {columns}) SELECT 'VW-X', {columns} FROM viewings WHERE id = ?",
        vid,
    )
    assert [p.split(":")[0] for p in problems()] == ["state-row-unlogged"]
    sql("DELETE FROM viewings WHERE id = 'VW-X'")
    assert problems() == []


def test_on_an_object_store_the_original_is_downloaded_once_per_vault(
    tmp_path: Path, clips: dict[str, Path], s3_bucket: S3Bucket
) -> None:
    vault = bootstrap.init_vault(s3_bucket.settings(tmp_path / "home"))
    try:
        rec = add_user(vault, "records")
        ev = evidence.ingest(vault, rec, clips["a"], add_case(vault))
        first = viewings.start_viewing(vault, rec, viewings.StartViewing(ev.evidence_id))
        got = viewings.viewing_segment(vault, rec, first.viewing_id, 0)
        assert got.data[:1] == b"\x47" and not got.cached
        local = tmp_path / "home" / "cache" / "originals" / ev.sha256
        assert local.is_file()
        made = local.stat().st_ino
        second = viewings.start_viewing(vault, rec, viewings.StartViewing(ev.evidence_id))
        assert viewings.viewing_segment(vault, rec, second.viewing_id, 0).data[:1] == b"\x47"
        assert local.stat().st_ino == made  # reused, not downloaded again
    finally:
        vault.engine.dispose()
