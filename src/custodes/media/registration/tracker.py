"""Registration along a leak: from scratch once, then tracked (:class:`RegistrationTracker`).

A leak's geometry is constant or slowly varying (a phone filming a monitor drifts): the
tracker registers from scratch once, then per frame measures the motion with a few
Gauss-Newton steps from the previous map, keeps the map unchanged while it moves less
than a tenth of a pixel (a steady map, not a jittery one), follows it when it moves, and
starts over when the pictures stop agreeing.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from custodes.media.registration.comparison import MIN_AGREEMENT, structure_agreement
from custodes.media.registration.features import register
from custodes.media.registration.geometry import Registration, apply_h
from custodes.media.registration.refine import refine_registration

__all__ = ["RegistrationTracker"]

_F64 = NDArray[np.float64]


def _displacement(h_old: _F64, h_new: _F64, leak_shape: tuple[int, int]) -> float:
    """Largest move (original pixels) of the leak's corners and centre between two maps."""
    lh, lw = leak_shape
    pts = np.array([[0, 0], [lw, 0], [lw, lh], [0, lh], [lw / 2, lh / 2]], np.float64)
    return float(np.abs(apply_h(h_new, pts) - apply_h(h_old, pts)).max())


class RegistrationTracker:
    """Registration along a leak: from scratch once, then tracked.

    :meth:`update` registers the first frame from scratch (:func:`register`). On each
    later frame a few Gauss-Newton steps from the current homography measure how far
    the geometry moved; below ``still_px`` (original pixels) the homography is kept
    as it is, so a fixed crop or letterbox keeps one steady map instead of a jittery
    one; above it (a phone moving in front of a monitor) the refined map is taken.
    Every ``check_every`` frames, and when refining fails, the structural agreement
    (:func:`structure_agreement`) is checked, and below :data:`MIN_AGREEMENT` the
    frame is registered from scratch (a cut, a new framing). After a failed attempt
    from scratch the next ``retry_after`` frames get None without trying (a few hundred
    milliseconds each otherwise).
    """

    def __init__(
        self, *, still_px: float = 0.12, check_every: int = 15, retry_after: int = 4
    ) -> None:
        self.still_px = still_px
        self.check_every = check_every
        self.retry_after = retry_after
        self.cooldown = 0
        self.current: Registration | None = None
        self.since_check = 0
        self.restarts = 0
        self.moves = 0

    @property
    def baseline(self) -> float:
        """The current registration's residual scale at the working level."""
        return self.current.error if self.current is not None else math.inf

    def reset(self) -> None:
        self.current = None
        self.since_check = 0

    def update(
        self, leak_gray: NDArray[np.generic], orig_gray: NDArray[np.generic]
    ) -> Registration | None:
        """The registration of this frame pair, or None when there is none."""
        if self.current is None:
            return self._restart(leak_gray, orig_gray)
        leak_shape = np.asarray(leak_gray).shape[:2]
        refined = refine_registration(
            leak_gray, orig_gray, self.current, coarse=False, iterations=4, stride=2
        )
        self.since_check += 1
        if refined is None:
            return self._restart(leak_gray, orig_gray)
        moved = _displacement(self.current.H, refined.H, (int(leak_shape[0]), int(leak_shape[1])))
        if moved > self.still_px:
            self.current = refined
            self.moves += 1
        else:
            self.current = replace(self.current, error=refined.error)
        if self.since_check >= self.check_every:
            self.since_check = 0
            if structure_agreement(leak_gray, orig_gray, self.current) < MIN_AGREEMENT:
                return self._restart(leak_gray, orig_gray)
        return self.current

    def _restart(
        self, leak_gray: NDArray[np.generic], orig_gray: NDArray[np.generic]
    ) -> Registration | None:
        if self.cooldown > 0:  # registering from scratch just failed: not every frame
            self.cooldown -= 1
            return None
        self.restarts += 1
        self.since_check = 0
        reg = register(leak_gray, orig_gray)
        if reg is None:
            # Keep the last good geometry for the next frame: the miss may be a flash.
            self.cooldown = self.retry_after
            return None
        self.current = reg
        return reg
