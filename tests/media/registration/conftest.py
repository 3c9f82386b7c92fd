"""The original frame most registration tests make their leaks from."""

from __future__ import annotations

import numpy as np
import pytest

from tests.media.registration.synthetic import gray_frames


@pytest.fixture(scope="module")
def orig() -> np.ndarray:
    return gray_frames(3)[0]
