"""LocalBlobStore: the content-addressed blob store on local disk."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import subprocess
import sys
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

import pytest

from custodes.core.errors import BackendUnavailable, InvalidInput, NotFound
from custodes.core.ports import BlobStore, StagedBlob
from custodes.storage.blobs import local
from custodes.storage.blobs.local import CHUNK_SIZE, LocalBlobStore


def put(store: LocalBlobStore, data: bytes) -> str:
    ref = store.commit(store.stage(io.BytesIO(data)))
    return ref.sha256


def tmp_files(store: LocalBlobStore) -> list[str]:
    tmp = store.root / "tmp"
    return sorted(os.listdir(tmp)) if tmp.exists() else []


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class ReadOnly:
    """A source with ``read`` and no ``readinto`` (as some upload streams are)."""

    def __init__(self, data: bytes, step: int | None = None) -> None:
        self.f = io.BytesIO(data)
        self.step = step

    def read(self, n: int = -1) -> bytes:
        return self.f.read(n if self.step is None else min(n, self.step))


class Failing(io.RawIOBase):
    """Yields ``good`` bytes, then raises ``exc``."""

    def __init__(self, good: int, exc: BaseException) -> None:
        self.left = good
        self.exc = exc

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if self.left <= 0:
            raise self.exc
        n = min(len(b), self.left, 1024 * 1024)
        b[:n] = b"x" * n
        self.left -= n
        return n


class Generated:
    """A long stream made up on the fly, never held whole; hashes what it hands out."""

    def __init__(self, size: int, *, use_readinto: bool) -> None:
        self.left = size
        self.block = os.urandom(1024 * 1024)
        self.count = 0
        self.h = hashlib.sha256()
        if use_readinto:
            self.readinto = self._readinto

    def _next(self, n: int) -> bytes:
        n = min(n, self.left, len(self.block))
        self.count += 1
        chunk = self.count.to_bytes(8, "big") + self.block[8:n] if n >= 8 else self.block[:n]
        self.left -= n
        self.h.update(chunk)
        return chunk

    def read(self, n: int = -1) -> bytes:
        return self._next(n if n >= 0 else self.left)

    def _readinto(self, b: bytearray | memoryview) -> int:
        chunk = self._next(len(b))
        b[: len(chunk)] = chunk
        return len(chunk)


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def test_satisfies_the_protocol(store: LocalBlobStore) -> None:
    as_port: BlobStore = store
    assert as_port is store


def test_round_trip(store: LocalBlobStore) -> None:
    data = b"body camera footage"
    staged = store.stage(io.BytesIO(data))
    assert staged.sha256 == hashlib.sha256(data).hexdigest()
    assert staged.size == len(data)
    assert staged.path.parent == store.root / "tmp"
    assert mode(staged.path) == 0o600
    assert not store.exists(staged.sha256)

    ref = store.commit(staged)
    assert (ref.sha256, ref.size, ref.created) == (staged.sha256, len(data), True)
    assert store.exists(ref.sha256)
    with store.open(ref.sha256) as f:
        assert f.read() == data
    path = store.local_path(ref.sha256)
    assert path == store.root / "sha256" / ref.sha256[:2] / ref.sha256[2:4] / ref.sha256
    assert list(store.iter_hashes()) == [ref.sha256]
    assert store.rehash(ref.sha256) == ref.sha256
    assert tmp_files(store) == []


def test_layout_modes(store: LocalBlobStore) -> None:
    sha = put(store, b"abc")
    path = store.local_path(sha)
    assert path is not None
    assert mode(path) == 0o444
    for d in (store.root, store.root / "tmp", path.parent, path.parent.parent, path.parents[2]):
        assert mode(d) == 0o700, d


@pytest.mark.parametrize(
    "size", [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 12345]
)
@pytest.mark.parametrize("source", ["readinto", "read"])
def test_hash_matches_hashlib(store: LocalBlobStore, size: int, source: str) -> None:
    data = os.urandom(size)
    src = io.BytesIO(data) if source == "readinto" else ReadOnly(data)
    seen: list[int] = []
    staged = store.stage(src, progress=seen.append)  # type: ignore[arg-type]
    assert staged.sha256 == hashlib.sha256(data).hexdigest()
    assert staged.size == size == sum(seen)
    assert all(n > 0 for n in seen)
    ref = store.commit(staged)
    with store.open(ref.sha256) as f:
        assert f.read() == data
    assert store.rehash(ref.sha256) == ref.sha256


def test_short_reads(store: LocalBlobStore) -> None:
    data = os.urandom(100_003)
    staged = store.stage(ReadOnly(data, step=4096))  # type: ignore[arg-type]
    assert staged.sha256 == hashlib.sha256(data).hexdigest()
    assert staged.path.read_bytes() == data


def test_source_yielding_bytearrays(store: LocalBlobStore) -> None:
    data = os.urandom(2 * CHUNK_SIZE + 3)

    class Arrays(ReadOnly):
        def read(self, n: int = -1) -> bytes:
            return bytearray(super().read(n))  # type: ignore[return-value]

    staged = store.stage(Arrays(data))  # type: ignore[arg-type]
    assert staged.sha256 == hashlib.sha256(data).hexdigest()
    assert staged.path.read_bytes() == data


def test_dedup(store: LocalBlobStore) -> None:
    data = os.urandom(5000)
    first = store.commit(store.stage(io.BytesIO(data)))
    a = store.stage(io.BytesIO(data))
    b = store.stage(io.BytesIO(data))
    second = store.commit(a)
    third = store.commit(b)
    assert first.created and not second.created and not third.created
    assert first.sha256 == second.sha256 == third.sha256
    assert list(store.iter_hashes()) == [first.sha256]
    assert not a.path.exists() and not b.path.exists()
    assert tmp_files(store) == []
    path = store.local_path(first.sha256)
    assert path is not None
    assert len(os.listdir(path.parent)) == 1
    assert os.stat(path).st_nlink == 1


def test_rehash_detects_a_changed_blob(store: LocalBlobStore) -> None:
    data = os.urandom(10_000)
    sha = put(store, data)
    path = store.local_path(sha)
    assert path is not None
    path.chmod(0o644)
    with path.open("r+b") as f:
        f.seek(5000)
        byte = f.read(1)
        f.seek(5000)
        f.write(bytes([byte[0] ^ 1]))
    assert store.rehash(sha) != sha
    assert store.rehash(sha) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_commit_never_replaces_an_existing_blob(store: LocalBlobStore) -> None:
    data = os.urandom(10_000)
    sha = put(store, data)
    path = store.local_path(sha)
    assert path is not None
    inode = path.stat().st_ino
    path.chmod(0o644)
    path.write_bytes(b"tampered")  # the evidence of tampering must survive a re-ingest
    path.chmod(0o444)
    ref = store.commit(store.stage(io.BytesIO(data)))
    assert not ref.created
    assert path.read_bytes() == b"tampered"
    assert path.stat().st_ino == inode
    assert store.rehash(sha) != sha


def test_rehash_reports_progress(store: LocalBlobStore) -> None:
    data = os.urandom(local.REHASH_CHUNK_SIZE + 10)
    sha = put(store, data)
    seen: list[int] = []
    assert store.rehash(sha, progress=seen.append) == sha
    assert sum(seen) == len(data)


def test_missing_blob(store: LocalBlobStore) -> None:
    sha = hashlib.sha256(b"never stored").hexdigest()
    assert not store.exists(sha)
    with pytest.raises(NotFound):
        store.open(sha)
    with pytest.raises(NotFound):
        store.rehash(sha)
    with pytest.raises(NotFound):
        store.local_path(sha)
    assert list(store.iter_hashes()) == []


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "abc",
        "A" * 64,
        "g" * 64,
        "a" * 63,
        "a" * 65,
        "../../../../etc/passwd",
        "ab/cd/" + "a" * 58,
        "a" * 64 + "\n",
        " " + "a" * 63,
    ],
)
def test_bad_hex(store: LocalBlobStore, bad: str) -> None:
    for call in (store.open, store.rehash, store.local_path, store.exists):
        with pytest.raises(InvalidInput):
            call(bad)


def test_commit_refuses_a_foreign_path(store: LocalBlobStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_bytes(b"x")
    sha = hashlib.sha256(b"x").hexdigest()
    with pytest.raises(InvalidInput):
        store.commit(StagedBlob(path=outside, sha256=sha, size=1))
    with pytest.raises(InvalidInput):
        store.discard(StagedBlob(path=outside, sha256=sha, size=1))
    assert outside.exists()


def test_discard(store: LocalBlobStore) -> None:
    staged = store.stage(io.BytesIO(b"not kept"))
    store.discard(staged)
    assert not staged.path.exists()
    store.discard(staged)  # idempotent
    assert list(store.iter_hashes()) == []


def test_failure_mid_stream_leaves_no_temp_file(store: LocalBlobStore) -> None:
    with pytest.raises(ValueError, match="boom"):
        store.stage(Failing(3 * CHUNK_SIZE + 5, ValueError("boom")))  # type: ignore[arg-type]
    assert tmp_files(store) == []


def test_os_error_mid_stream_is_backend_unavailable(store: LocalBlobStore) -> None:
    cause = OSError(errno.EIO, "Input/output error")
    with pytest.raises(BackendUnavailable) as info:
        store.stage(Failing(CHUNK_SIZE // 2, cause))  # type: ignore[arg-type]
    assert info.value.__cause__ is cause
    assert tmp_files(store) == []


def test_disk_full_is_backend_unavailable(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = local._write_all
    calls = 0

    def write_all(fd: int, data: memoryview) -> None:
        nonlocal calls
        calls += 1
        if calls > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, data)

    monkeypatch.setattr(local, "_write_all", write_all)
    with pytest.raises(BackendUnavailable, match="No space left") as info:
        store.stage(io.BytesIO(os.urandom(10 * CHUNK_SIZE)))
    assert isinstance(info.value.__cause__, OSError)
    assert info.value.__cause__.errno == errno.ENOSPC
    assert tmp_files(store) == []


def test_iter_hashes_ignores_strays(store: LocalBlobStore) -> None:
    shas = sorted(put(store, bytes([i])) for i in range(5))
    blobs = store.root / "sha256"
    (blobs / "README").write_text("stray")
    (blobs / "zz").mkdir()
    (blobs / shas[0][:2] / "notes.txt").write_text("stray")
    (blobs / shas[0][:2] / shas[0][2:4] / (shas[0] + ".bak")).write_text("stray")
    misplaced = "f" * 64
    (blobs / shas[0][:2] / shas[0][2:4] / misplaced).write_text("wrong folder")
    assert list(store.iter_hashes()) == shas


def test_sweep_temp(store: LocalBlobStore) -> None:
    assert store.sweep_temp() == 0  # no tmp folder yet
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: its pid names no live process any more
    tmp = store.root / "tmp"
    tmp.mkdir(parents=True)
    dead = tmp / f"{child.pid}-0123abcd.part"
    mine = tmp / f"{os.getpid()}-0123abcd.part"
    old_mine = tmp / f"{os.getpid()}-ffff0000.part"
    other = tmp / "keep-me.txt"
    for p in (dead, mine, old_mine, other):
        p.write_bytes(b"partial")
    day_ago = time.time() - 25 * 3600
    os.utime(old_mine, (day_ago, day_ago))
    staged = store.stage(io.BytesIO(b"in progress"))

    assert store.sweep_temp() == 2
    assert not dead.exists() and not old_mine.exists()
    assert mine.exists() and other.exists() and staged.path.exists()
    assert store.commit(staged).created


@pytest.mark.parametrize("use_readinto", [True, False], ids=["readinto", "read"])
def test_streaming_uses_bounded_memory(store: LocalBlobStore, use_readinto: bool) -> None:
    size = 200 * 1024 * 1024 + 7
    src = Generated(size, use_readinto=use_readinto)
    tracemalloc.start()
    try:
        staged = store.stage(src)  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert staged.size == size
    assert staged.sha256 == src.h.hexdigest()
    assert peak < 50 * 1024 * 1024, peak
    store.discard(staged)


def test_materialize_gives_the_stored_file_itself(store: LocalBlobStore) -> None:
    data = b"recorded original"
    sha = put(store, data)
    seen: list[int] = []
    with store.materialize(sha, progress=seen.append) as local:
        assert local.path == store.local_path(sha)
        assert (local.sha256, local.size) == (sha, len(data))
    assert sum(seen) == len(data)
    assert store.local_path(sha).read_bytes() == data  # nothing is removed afterwards
    assert store.size(sha) == len(data)
    assert store.location(sha) == str(store.local_path(sha))
    # An altered blob is given as it is, with the hash of what it now holds.
    path = store.local_path(sha)
    path.chmod(0o600)
    path.write_bytes(b"altered")
    with store.materialize(sha) as local:
        assert local.sha256 == hashlib.sha256(b"altered").hexdigest()
    path.unlink()
    for call in (store.size, store.location):
        with pytest.raises(NotFound):
            call(sha)
    with pytest.raises(NotFound), store.materialize(sha):
        pass


def test_a_folder_cannot_lock(store: LocalBlobStore) -> None:
    sha = store.commit(store.stage(io.BytesIO(b"an original")), retain=True).sha256
    assert store.retention is None
    lock = store.lock_status(sha)
    assert not lock.enforced and lock.mode is None
    assert lock.shortfall(timedelta(days=1)) == "its store cannot lock it"
    store.hold(sha, True)  # nothing to hold with: a no-op
    assert store.rehash(sha) == sha and mode(store.local_path(sha)) == 0o444
    missing = hashlib.sha256(b"never stored").hexdigest()
    for call in (store.lock_status, lambda s: store.hold(s, True)):
        with pytest.raises(NotFound):
            call(missing)
