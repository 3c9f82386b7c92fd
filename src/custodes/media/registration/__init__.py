"""Map a leaked frame back onto its original frame, and subtract.

Informed watermark detection needs the leaked picture in the *original's* pixel grid,
with the original's brightness, so that ``leak - original`` is the watermark plus
noise. Each step is numpy/OpenCV work on whole arrays, never a per-pixel loop:

1. **Geometry** (:func:`register`: :mod:`.features`, :mod:`.refine`, :mod:`.geometry`).
   ORB features (Rublee et al., ICCV 2011; SIFT as a fallback) on contrast-equalised
   (CLAHE) luma, Lowe's ratio test, a homography by MAGSAC++ (OpenCV's
   ``USAC_MAGSAC``), tried on the leak as is and mirrored; the inliers must spread over
   the picture (the burned-in overlay line that every bodycam of a model prints must
   not pass for a match). The homography is then refined on the pixels by robust
   Gauss-Newton (forward compositional Lucas-Kanade: Baker and Matthews, "Lucas-Kanade
   20 years on", IJCV 2004) with a tone curve, a gain, a bias and a smooth gain field
   in the model and Tukey weights, so that banners, vignetting and captions do not pull
   the geometry. On the synthetic known-answer cases of ``tests/media/registration/``
   leak pixels land within 0.3 px of the truth: misregistration would leak the
   picture's edges into the residual, and those dwarf a watermark. A registration is
   kept only if the band-passed pictures agree (:func:`structure_agreement` at least
   :data:`MIN_AGREEMENT`: :mod:`.comparison`).
2. **Tone** (:func:`fit_tone`: :mod:`.tone`). A monotone curve original -> leak: the
   weighted median leak level in each band of original levels (from a 2-D histogram),
   after dropping gross outliers to a robust cubic fit, made monotone by
   pool-adjacent-violators. Brightness, contrast and gamma, without a parametric model;
   :func:`apply_inverse` takes leak levels back to the original's.
3. **Residual** (:func:`residual_frame`, :func:`residual_details`: :mod:`.residual`).
   Tone-inverted warped leak minus the original blurred like the leak
   (:func:`estimate_blur`: :mod:`.blur`), with a smooth multiplicative gain field
   divided out (vignetting: :mod:`.gain`). Weights in [0, 1]: zero outside the leak's
   field of view, on clipped levels and on blobs an overlay replaced (large residuals,
   a stray local mean, or texture the leak stopped following: :mod:`.overlays`);
   elsewhere Tukey's biweight over a robust (MAD) scale (:mod:`.robust`), lowered on
   strong edges where a small misregistration would show.

A leak's geometry is constant or slowly varying (a phone filming a monitor drifts):
:class:`RegistrationTracker` (:mod:`.tracker`) registers from scratch once, then per
frame measures the motion with a phase correlation and a few Gauss-Newton steps from
the previous map, keeps the map unchanged while it moves less than a tenth of a pixel
(a steady map, not a jittery one), follows it when it moves, and starts over when the
pictures stop agreeing.

Speed (a 640x360 frame is tracked, registered in time and subtracted in about 50 ms
of one core): the Gauss-Newton steps evaluate their model on every other pixel only
(the warp, its blur and gradients stay whole-frame), the overlay tests share one map
of local correlation per frame, tone curves are looked up with precomputed steps,
the field of view is solved row by row, and the public entry points run OpenBLAS on
one thread (:func:`custodes.media.threads.single_threaded_blas`)."""

from custodes.media.registration.blur import estimate_blur
from custodes.media.registration.comparison import (
    MIN_AGREEMENT,
    refine_time,
    registration_error,
    structure_agreement,
)
from custodes.media.registration.features import MIN_INLIERS, register
from custodes.media.registration.geometry import Registration, warp_to_original
from custodes.media.registration.refine import WORK_SIDE, refine_registration
from custodes.media.registration.residual import Residual, residual_details, residual_frame
from custodes.media.registration.tone import ToneMap, apply_inverse, fit_tone
from custodes.media.registration.tracker import RegistrationTracker

__all__ = [
    "MIN_AGREEMENT",
    "MIN_INLIERS",
    "WORK_SIDE",
    "Registration",
    "RegistrationTracker",
    "Residual",
    "ToneMap",
    "apply_inverse",
    "estimate_blur",
    "fit_tone",
    "refine_registration",
    "refine_time",
    "register",
    "registration_error",
    "residual_details",
    "residual_frame",
    "structure_agreement",
    "warp_to_original",
]
