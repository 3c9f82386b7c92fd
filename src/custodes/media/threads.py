"""OpenBLAS on one thread while small matrices are multiplied (:func:`single_threaded_blas`).

Registration and watermarking multiply many small matrices, work of a millisecond or
less that OpenBLAS would split over every core; :func:`one_blas_thread` wraps an entry
point in :func:`single_threaded_blas`.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar

__all__ = ["one_blas_thread", "single_threaded_blas"]

_BLAS_SYMBOLS = (  # (set, get) pairs: numpy's scipy-openblas wheels, then plain OpenBLAS
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
)
_blas_lock = threading.Lock()
_blas_users = 0
_blas_saved: list[tuple[Callable[[int], Any], int]] = []


@functools.cache
def _openblas_controls() -> tuple[tuple[Callable[[int], Any], Callable[[], int]], ...]:
    """The thread-count setters and getters of every OpenBLAS loaded in this process
    (numpy's and OpenCV's wheels each bundle one); none where that cannot be told."""
    try:
        with open(f"/proc/{os.getpid()}/maps", encoding="utf-8", errors="replace") as maps:
            paths = {
                line.split(None, 5)[5].strip()
                for line in maps
                if "openblas" in line.lower() and len(line.split(None, 5)) == 6
            }
    except OSError:
        return ()
    controls = []
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for set_name, get_name in _BLAS_SYMBOLS:
            setter, getter = getattr(lib, set_name, None), getattr(lib, get_name, None)
            if setter is not None and getter is not None:
                setter.argtypes, setter.restype = [ctypes.c_int], None
                getter.argtypes, getter.restype = [], ctypes.c_int
                controls.append((setter, getter))
                break
    return tuple(controls)


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run OpenBLAS on one thread inside the block (the previous counts come back after).

    Registration and watermarking multiply many small matrices (15 x 15 normal
    equations over 50,000 pixels, the watermark's 27 x 360 and 48 x 640 upsampling
    matrices): work of a millisecond or less, which OpenBLAS splits over every core.
    On two cores shared with other jobs, waiting for a helper thread that is not
    scheduled made the matched filter's projection take 20 ms instead of 0.3 and
    whole traces two to three times slower. The count is per process, so nested and
    concurrent blocks count their users and the last one out restores it.
    """
    global _blas_users
    with _blas_lock:
        if _blas_users == 0:
            _blas_saved[:] = [(setter, getter()) for setter, getter in _openblas_controls()]
            for setter, _ in _blas_saved:
                setter(1)
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                for setter, n in _blas_saved:
                    setter(n)
                _blas_saved.clear()


_P = ParamSpec("_P")
_R = TypeVar("_R")


def one_blas_thread(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``fn`` under :func:`single_threaded_blas` (registration's public entry points)."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with single_threaded_blas():
            return fn(*args, **kwargs)

    return wrapper
