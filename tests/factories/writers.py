"""Writers appending to a vault's log while a test does something else."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from custodes.bootstrap import Vault
from custodes.services import cases


@contextmanager
def writers_adding_cases(vault: Vault, count: int, prefix: str) -> Iterator[list[BaseException]]:
    """``count`` threads adding cases (``PREFIX<n>-<i>``) until the block ends; yields the
    list their failures go to (empty when every write succeeded), checked after join."""
    stop = threading.Event()
    failures: list[BaseException] = []

    def writer(n: int) -> None:
        i = 0
        try:
            while not stop.is_set():
                cases.add_case(vault, "admin", f"{prefix}{n}-{i}")
                i += 1
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(count)]
    for th in threads:
        th.start()
    try:
        yield failures
    finally:
        stop.set()
        for th in threads:
            th.join()
