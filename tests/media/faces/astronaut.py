"""The astronaut's face (Eileen Collins, NASA, public domain), which scikit-image ships in
its wheel as ``skimage/data/astronaut.png``; it is read as a file, skimage itself is not
used."""

from __future__ import annotations

import importlib.resources

import cv2
import numpy as np

from custodes.media.faces import Box

# Where the astronaut's face is in the 512x512 image (measured once by hand).
ASTRONAUT_FACE = Box(178, 62, 266, 176)


def astronaut_bgr() -> np.ndarray:
    path = importlib.resources.files("skimage.data") / "astronaut.png"
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None
    return np.asarray(img)
