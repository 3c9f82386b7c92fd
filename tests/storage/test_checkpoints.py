"""The published checkpoint file: the newest note wins, whatever order writers
publish in, and threads of one process share their turns (group publish)."""

from __future__ import annotations

import random
import threading
from pathlib import Path

from custodes.core.checkpoint import Checkpoint, note_text, parse_checkpoint
from custodes.storage.checkpoints import FileCheckpointStore


def _note(size: int) -> bytes:
    body = Checkpoint(origin="custodes.test/0", size=size, root_hash=bytes(32)).body()
    return body + b"\n\xe2\x80\x94 custodes.test/0 c2lnbmF0dXJl\n"


def _size(note: bytes) -> int:
    return parse_checkpoint(note_text(note)).size


def test_a_smaller_checkpoint_never_replaces_a_larger(tmp_path: Path) -> None:
    store = FileCheckpointStore(tmp_path)
    store.publish(_note(5))
    store.publish(_note(3))
    assert store.published() == _note(5)
    # Another process (a store of its own) publishes a larger one; this one's smaller
    # note after it leaves it in place.
    FileCheckpointStore(tmp_path).publish(_note(9))
    store.publish(_note(7))
    assert store.published() == _note(9)
    assert [_size(n + b"\n") for n in _history(store)] == [5, 9]


def _history(store: FileCheckpointStore) -> list[bytes]:
    """The texts of the notes in the history file (each note, then a newline)."""
    parts = store.history.read_bytes().split(b"\n\n")
    return [p for p in parts if p.startswith(b"custodes.test/0\n")]


def test_threads_publishing_at_once_leave_the_largest_and_a_growing_history(
    tmp_path: Path,
) -> None:
    store = FileCheckpointStore(tmp_path)
    sizes = list(range(1, 201))
    random.Random(7).shuffle(sizes)
    start = threading.Barrier(8)

    def writer(mine: list[int]) -> None:
        start.wait()
        for size in mine:
            store.publish(_note(size))

    threads = [threading.Thread(target=writer, args=(sizes[n::8],)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert store.published() == _note(200)
    history = [_size(n + b"\n") for n in _history(store)]
    assert history == sorted(set(history)) and history[-1] == 200
