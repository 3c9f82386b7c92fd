"""The 8-bit CenterFace model, derived from the shipped float one (:func:`int8_model`).

onnxruntime's own quantization tool, static, with 8-bit weights and activations; the
ranges of the activations come from generated frames (:data:`QUANT_RECIPE`), so the
result is the same wherever it is built with the same onnxruntime. Nothing is
downloaded.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.resources
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from custodes.core.errors import CustodesError
from custodes.media.faces.centerface_model import INPUT, OUTPUTS

__all__ = ["QUANT_RECIPE", "int8_model"]


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


def int8_model(model: bytes, runtime_version: str, cache_dir: Path | None) -> bytes:
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
    if key in _BUILT:
        data = _BUILT[key]
        if cached is not None and not cached.is_file():
            _keep(cached, data)
        return data
    data = _build_or_load(model, cached)
    _BUILT[key] = data
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


_BUILT: dict[str, bytes] = {}  # built once per process


def _build_or_load(model: bytes, cached: Path | None) -> bytes:
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
            return None if b is None else {INPUT: b}

    ort.set_default_logger_severity(3)  # its notes on unused initialisers are noise here
    with tempfile.TemporaryDirectory(prefix="custodes-int8-") as tmp:
        src, mid, dst = (Path(tmp) / n for n in ("float.onnx", "pre.onnx", "int8.onnx"))
        src.write_bytes(model)
        pre.quant_pre_process(str(src), str(mid), skip_symbolic_shape=True)
        graph = onnx.load(str(mid))
        heads = set(OUTPUTS)
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
