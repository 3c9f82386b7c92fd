"""Redaction: plan which pixels to hide in which frame, then render the redacted copy.

Two steps, so that a person can review between them:

1. :func:`plan_redaction` decodes the original once and writes nothing. Faces are found
   by a detector (:class:`custodes.media.faces.FaceDetector`) on every ``detect_every``-th
   frame, at the detector's own input size, and also at a scene cut and where the motion
   of a box jumps. Between those looks each box found is carried with the picture
   (``carry="flow"``, the default, :mod:`.carry`): forward frame by frame, and backward
   over the frames since the previous look, by pyramidal Lucas-Kanade on a few points
   inside it, on a grayscale copy of the frame at most 640 px wide (only the frames since
   the last look are kept), and widened by its uncertainty (how much its points disagree,
   a little more every frame, all of its motion when its points are lost) and by half
   its motion. A box is carried until a later look finds the face again, it is lost, or
   for two seconds; a face first seen at a look is therefore covered on the frames
   before it too. By default the detector looks at least ``FLOW_HZ`` (6) times a second
   (every 5th frame at 30 fps, every 4th at 24 or 25, every frame at 10 fps: at every
   2nd frame 10 fps footage with 8-12 px faces came out 99.1 % clean, a miss).
   Detections are joined into tracks (greedy association on IoU against a
   constant-velocity prediction, falling back on centre distance); between two
   detections of a track a frame gets the union of the earlier box carried forward and
   the later carried backward; boxes are smoothed in
   time (moving-average centre, running-maximum size, never smaller than the unsmoothed
   box) and grown by a margin. With ``carry="linear"`` (plans made before) the detector
   looks at least ``DETECT_HZ`` (10) times a second and tracks are interpolated linearly
   between detections and held ``hold`` frames before and after. Regions drawn by a
   person (:class:`RegionSeed`: a licence plate, a screen, a tattoo) are followed forward
   from the frame they were drawn on by normalised cross-correlation template matching
   at three scales around a constant-velocity prediction (OpenCV ``matchTemplate``;
   opencv-python-headless has no KCF/CSRT and its MIL tracker is slower and drifts more,
   see ``bench/bench_redact.py``), held ``region_hold`` frames when lost. The result,
   :class:`RedactionPlan`, lists the boxes of every frame and serialises to JSON (the
   sidecar a reviewer loads and corrects); :meth:`RedactionPlan.from_json` validates it
   field by field and refuses anything corrupt or hostile with a one-line
   :class:`~custodes.core.errors.InvalidInput`.

2. :func:`apply_redaction` renders the derivative (MP4, H.264 yuv420p and AAC): inside
   every box of the plan, each of the Y, U and V planes is pixelated to four blocks
   across, those blocks blurred (Gaussian, sigma 1.5 blocks) and stretched back smoothly
   (``style="blur"``: what is left is a smooth blob; weaker settings let a cascade face
   detector fire on 1-2 % of blurred faces in ``bench/bench_redact.py``), or filled black
   (``style="box"``); audio is silenced or replaced by a 1 kHz tone over the ``mute``
   ranges; ``cut`` ranges are removed from both streams, so the copy is shorter. Times
   are seconds on the original's timeline. As in :mod:`custodes.media.render`, the copy
   is written to a temporary file and renamed into place, and the original is only read.

:func:`contact_sheet` draws a grid of redacted frames with the boxes outlined, for the
reviewer.

The modules: :mod:`.plan` (the plan and its JSON sidecar), :mod:`.planner` (decoding
and detecting), :mod:`.carry` (boxes carried with the picture between looks),
:mod:`.tracks` (face tracks filled into boxes), :mod:`.regions` (drawn
regions followed), :mod:`.pixels` (blurring or filling a box), :mod:`.audio` (mute,
bleep, cut), :mod:`.ranges` (time ranges), :mod:`.render` (the redacted copy) and
:mod:`.review` (the contact sheet).
"""

from custodes.media.redaction.plan import (
    PLAN_FORMAT,
    PlanBox,
    RedactionPlan,
    RegionSeed,
    TrackingParams,
)
from custodes.media.redaction.planner import Detector, plan_redaction
from custodes.media.redaction.render import RedactionResult, apply_redaction
from custodes.media.redaction.review import contact_sheet
from custodes.media.redaction.tracks import detect_every_for

__all__ = [
    "PLAN_FORMAT",
    "Detector",
    "PlanBox",
    "RedactionPlan",
    "RedactionResult",
    "RegionSeed",
    "TrackingParams",
    "apply_redaction",
    "contact_sheet",
    "detect_every_for",
    "plan_redaction",
]
