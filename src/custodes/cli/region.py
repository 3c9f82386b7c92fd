"""The CLI's way of writing a region to redact: ``T:X,Y,W,H[:label]``."""

from __future__ import annotations

from custodes.core.errors import InvalidInput
from custodes.media.redaction import RegionSeed

REGION_SYNTAX = "T:X,Y,W,H[:label]"


def parse_region(text: str) -> RegionSeed:
    """``T:X,Y,W,H[:label]``: a box drawn on the frame at T seconds (source pixels).

    Only the syntax is read here; whether the box lies on the recording (finite, inside
    the frame, before the end) is for the use case to decide, on record."""
    try:
        parts = text.split(":")
        t_s = float(parts[0])
        x, y, w, h = (float(v) for v in parts[1].split(","))
        label = parts[2] if len(parts) > 2 else "region"
    except (IndexError, ValueError):
        raise InvalidInput(
            f"a region is {REGION_SYNTAX}, e.g. 12.5:300,200,120,40:plate: '{text}'",
            field="regions",
        ) from None
    return RegionSeed(t_s, x, y, w, h, label)
