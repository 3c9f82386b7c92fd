"""Time ranges in seconds on the original's timeline (mute, bleep and cut ranges)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from custodes.core.errors import InvalidInput

Range = tuple[float, float]


def ranges_ok(ranges: Sequence[Range], what: str) -> list[Range]:
    out = []
    for r in ranges:
        if len(r) != 2:
            raise InvalidInput(f"{what} range {r!r} must be (start, end) in seconds")
        s, e = float(r[0]), float(r[1])
        if not (math.isfinite(s) and math.isfinite(e)) or s < 0 or e <= s:
            raise InvalidInput(f"{what} range {s}-{e} must have 0 <= start < end")
        out.append((s, e))
    return sorted(out)


def in_ranges(t: float, ranges: Sequence[Range]) -> bool:
    return any(s <= t < e for s, e in ranges)
