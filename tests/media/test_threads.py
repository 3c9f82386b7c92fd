"""custodes.media.threads: one OpenBLAS thread inside the block, the counts back after."""

from __future__ import annotations

import pytest

from custodes.media import threads


def test_single_threaded_blas_nests_and_restores() -> None:
    controls = threads._openblas_controls()
    before = [get() for _, get in controls]
    with threads.single_threaded_blas():
        assert all(get() == 1 for _, get in controls)
        with threads.single_threaded_blas():
            assert all(get() == 1 for _, get in controls)
        assert all(get() == 1 for _, get in controls)
    assert [get() for _, get in controls] == before
    with pytest.raises(RuntimeError), threads.single_threaded_blas():
        raise RuntimeError("inside")
    assert [get() for _, get in controls] == before
