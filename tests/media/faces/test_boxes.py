"""custodes.media.faces.boxes: box geometry and non-maximum suppression."""

from __future__ import annotations

import numpy as np
import pytest

from custodes.media.faces import Box, nms


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array(
        [[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 10.5]], np.float32
    )
    scores = np.array([0.5, 0.9, 0.7, 0.4], np.float32)
    assert nms(boxes, scores, 0.3) == [1, 2]


def test_box_geometry() -> None:
    a, b = Box(0, 0, 10, 10), Box(5, 0, 15, 10)
    assert a.iou(b) == pytest.approx(50 / 150)
    assert a.iou(Box(20, 20, 30, 30)) == 0.0
    assert a.scaled(2, 3).as_tuple() == (0, 0, 20, 30, 1.0)
    assert a.center == (5, 5)
