"""What both face models share: onnxruntime on the CPU, a pinned model, the input blob.

:class:`OnnxFaceModel` checks the settings, loads the model a package ships and checks
its SHA-256 against the hash pinned in the code (a different model can never slip in
unnoticed), and records it all in :meth:`~OnnxFaceModel.lineage`. :func:`blob` makes
the network's input: the frame shrunk so that its longer side is at most ``max_side``,
padded (never stretched) to a multiple of 32, so the cost per frame is bounded whatever
the source resolution.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.resources
import math
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from custodes.core.errors import CustodesError, IntegrityFailure, InvalidInput

__all__ = ["OnnxFaceModel"]


def load_onnxruntime() -> Any:
    try:
        # Imported by name: onnxruntime ships no type information.
        return importlib.import_module("onnxruntime")
    except ImportError as exc:
        raise CustodesError(
            "face detection needs the 'onnxruntime' package, which is not installed",
            advice="pip install onnxruntime",
        ) from exc


def make_session(ort: Any, model: bytes, threads: int) -> Any:
    """An onnxruntime CPU session for ``model`` on ``threads`` intra-op threads."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, threads)
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    # No busy-waiting between runs: the decoder's and encoder's threads need the cores
    # (spinning made planning 2-3x slower on a loaded 2-core machine).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])
    except (ValueError, RuntimeError) as exc:  # a broken rewrite, cache or runtime
        raise CustodesError(f"cannot load the face model: {exc}") from exc


def input_blob(
    image: NDArray[np.uint8],
    input_size: Callable[[int, int], tuple[int, int]],
    *,
    rgb_in: bool,
    bgr: bool,
    mean: NDArray[np.float32] | None = None,
) -> tuple[int, int, int, int, NDArray[np.float32]]:
    """The network's input for ``image``: shrunk to ``input_size``, padded (never
    stretched) to a multiple of 32, channels in RGB order when ``rgb_in`` (else BGR),
    ``mean`` (in that order) subtracted. Returns (w, h, input w, input h, blob)."""
    if image.ndim == 2:
        image = np.ascontiguousarray(np.stack([image] * 3, axis=2), dtype=np.uint8)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
        raise InvalidInput(f"expected an HxWx3 uint8 image, got {image.shape} {image.dtype}")
    h, w = image.shape[:2]
    nw, nh = input_size(w, h)
    small: NDArray[Any] = image[:, :, :3]
    if (nw, nh) != (w, h):
        small = cv2.resize(small, (nw, nh), interpolation=cv2.INTER_AREA)
    pw, ph = math.ceil(nw / 32) * 32, math.ceil(nh / 32) * 32
    blob = np.zeros((1, 3, ph, pw), np.float32)
    chw = np.asarray(small, np.float32).transpose(2, 0, 1)
    if bgr == rgb_in:  # the image's order is not the network's
        chw = chw[::-1]
    if mean is not None:
        chw = chw - mean[:, None, None]
    blob[0, :, :nh, :nw] = chw
    return w, h, nw, nh, blob


def check_settings(threshold: float, max_side: int) -> None:
    if not 0.0 < threshold < 1.0:
        raise InvalidInput(f"face threshold must be between 0 and 1, got {threshold}")
    if max_side < 32:
        raise InvalidInput(f"max_side must be at least 32 pixels, got {max_side}")


def check_hash(data: bytes, expected: str, where: str, version: str) -> str:
    """``data``'s SHA-256, which must be ``expected`` (the model pinned for ``where``)."""
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected:
        package = where.split("/", 1)[0]
        raise IntegrityFailure(
            f"{where} has SHA-256 {digest}, expected {expected}: refusing an unknown face model",
            advice=f"reinstall '{package}=={version}'",
        )
    return digest


def shrink_to(max_side: int, width: int, height: int) -> tuple[int, int]:
    s = min(1.0, max_side / max(width, height))
    return max(1, round(width * s)), max(1, round(height * s))


class OnnxFaceModel:
    """What both detectors share: settings, the pinned model, the runtime, the input size."""

    name: str
    package: str
    threshold: float
    max_side: int
    nms_iou: float
    precision: str
    model_sha256: str
    package_version: str
    runtime_version: str

    def _load(
        self,
        threshold: float,
        max_side: int,
        loader: Callable[[], tuple[bytes, str]],
        expected: str,
        where: str,
        version: str,
    ) -> tuple[Any, bytes]:
        """Check the settings, load the pinned model; returns onnxruntime and the model."""
        check_settings(threshold, max_side)
        self.threshold = float(threshold)
        self.max_side = int(max_side)
        self.nms_iou = 0.3
        ort = load_onnxruntime()
        data, self.package_version = loader()
        self.model_sha256 = check_hash(data, expected, where, version)
        self.runtime_version = str(ort.__version__)
        return ort, data

    def lineage(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "package": self.package,
            "package_version": self.package_version,
            "model_sha256": self.model_sha256,
            "runtime": f"onnxruntime {self.runtime_version} CPU",
            "precision": self.precision,
            "threshold": self.threshold,
            "max_side": self.max_side,
            "nms_iou": self.nms_iou,
        }

    @property
    def version(self) -> str:
        raise NotImplementedError

    def input_size(self, width: int, height: int) -> tuple[int, int]:
        """The (width, height) a frame is shrunk to before padding to a multiple of 32."""
        return shrink_to(self.max_side, width, height)
