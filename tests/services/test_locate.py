"""services.locate: a leak located in the whole archive, on record, no copy attributed;
keys made where fingerprints are made, rebuilt on demand, dropped for retention."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from custodes.core.errors import InvalidInput, PermissionDenied
from custodes.media.archive import INDEX_VERSION
from custodes.media.leak import simulate_leak
from custodes.media.synth import write_bodycam_clip
from custodes.services import archive, evidence, locate, trace
from custodes.storage import tables as t
from tests.factories import add_case, add_user


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    from custodes import bootstrap
    from custodes.config import Settings

    root = tmp_path_factory.mktemp("locate")
    kw = {"seconds": 24.0, "width": 256, "height": 144, "audio": False}
    a = write_bodycam_clip(root / "a.mp4", seed=51, **kw)  # type: ignore[arg-type]
    b = write_bodycam_clip(root / "b.mp4", seed=52, night=True, **kw)  # type: ignore[arg-type]
    outside = write_bodycam_clip(root / "c.mp4", seed=53, **kw)  # type: ignore[arg-type]
    vault = bootstrap.init_vault(Settings(home=root / "v"))
    rec = add_user(vault, "records")
    ia = add_user(vault, "internal-affairs")
    ev_a = evidence.ingest(vault, rec, a, add_case(vault))
    ev_b = evidence.ingest(vault, rec, b, add_case(vault))
    indexed = trace.index_evidence(vault, ia)  # fingerprints and keys
    assert sorted(indexed.indexed) == sorted([ev_a.evidence_id, ev_b.evidence_id])
    yield vault, rec, ia, ev_a, ev_b, root, a, outside
    vault.engine.dispose()


def _key_rows(vault) -> set[str]:
    with vault.engine.connect() as conn:
        return set(conn.execute(select(t.archive_keys.c.evidence_id)).scalars())


def test_locates_a_cropped_leak_and_puts_it_on_record(setup) -> None:
    vault, _rec, ia, ev_a, ev_b, root, a, _ = setup
    assert _key_rows(vault) == {ev_a.evidence_id, ev_b.evidence_id}
    leak = simulate_leak(a, root / "leak.mp4", start_s=6.0, seconds=10.0, transform="crop")
    out = locate.locate_leak(vault, ia, leak)
    assert out.searched_evidence == 2
    assert out.sources, "the leak was not located"
    best = out.sources[0]
    assert best.evidence_id == ev_a.evidence_id
    assert abs(best.offset_s + best.rate * 5.0 - (6.0 + 5.0)) < 0.5
    assert best.confidence > 0.99 and best.score > 0.3
    with vault.engine.connect() as conn:
        row = conn.execute(
            select(t.audit_events)
            .where(t.audit_events.c.action == "locate")
            .order_by(t.audit_events.c.seq.desc())
        ).first()
    assert row is not None and row.seq == out.audit_seq
    assert row.evidence_id == ev_a.evidence_id


def test_footage_not_in_the_vault_is_not_found(setup) -> None:
    vault, _rec, ia, *_rest, root, _a, outside = setup
    leak = simulate_leak(outside, root / "out.mp4", start_s=3.0, seconds=10.0, transform="scale")
    assert locate.locate_leak(vault, ia, leak).sources == []


def test_refused_without_the_right_and_for_bad_input(setup, tmp_path: Path) -> None:
    vault, *_rest, root, a, _outside = setup
    officer = add_user(vault, "officer")
    with pytest.raises(PermissionDenied):
        locate.locate_leak(vault, officer, a)
    with pytest.raises(InvalidInput):
        locate.locate_leak(vault, setup[2], tmp_path)


def test_rebuild_and_retention(setup) -> None:
    vault, _rec, ia, ev_a, ev_b, *_ = setup
    with vault.uow() as uow:
        assert archive.forget_keys(uow, ev_b.evidence_id) is True
        assert archive.forget_keys(uow, ev_b.evidence_id) is False
        uow.commit()
    assert _key_rows(vault) == {ev_a.evidence_id}
    done = locate.rebuild_index(vault, ia)
    assert (done.keyed, done.evidence) == (2, 2)
    assert _key_rows(vault) == {ev_a.evidence_id, ev_b.evidence_id}
    with vault.uow(readonly=True) as uow:
        assert {r.version for r in uow.archive_keys.all(INDEX_VERSION)} == {INDEX_VERSION}


def test_the_built_index_is_kept_as_a_snapshot(setup) -> None:
    """load_index keeps the built inverted files in the cache folder and loads them at
    the next search (memory-mapped, no key row read); a source keyed since is added
    beside them; a row made anew (a rebuild) makes the snapshot stale, and it is made
    again; a source not searched is hidden."""
    vault, _rec, ia, ev_a, ev_b, *_ = setup
    folder = archive.snapshot_dir(vault)
    assert folder is not None

    def fps(evs):
        return trace._fingerprints(vault, ia, evs)

    with vault.uow(readonly=True) as uow:
        sources = [uow.evidence.get(ev_a.evidence_id), uow.evidence.get(ev_b.evidence_id)]
    archive.load_index(vault, sources, fps)
    assert (folder / "meta.json").is_file()
    made = (folder / "meta.json").stat().st_mtime_ns
    loaded = archive.load_index(vault, sources, fps)
    assert loaded._lazy, "the snapshot was not loaded"
    assert (folder / "meta.json").stat().st_mtime_ns == made
    assert sorted(loaded.source_ids) == sorted([ev_a.evidence_id, ev_b.evidence_id])
    one = archive.load_index(vault, sources[:1], fps)
    assert one.source_ids == [ev_a.evidence_id]  # B hidden, not dropped from the snapshot
    locate.rebuild_index(vault, ia)  # every row made anew: the snapshot is stale
    again = archive.load_index(vault, sources, fps)
    assert not again._lazy and (folder / "meta.json").stat().st_mtime_ns != made
    assert archive.load_index(vault, sources, fps)._lazy
