"""For the reviewer: a contact sheet of redacted frames with the boxes outlined."""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
from numpy.typing import NDArray

from custodes.core.errors import CustodesError, InvalidInput
from custodes.media.redaction.plan import RedactionPlan
from custodes.media.redaction.ranges import Range, in_ranges, ranges_ok

__all__ = ["contact_sheet"]

_U8 = NDArray[np.uint8]


def _kept_index_map(plan: RedactionPlan, cut: Sequence[Range]) -> dict[int, int]:
    """Source frame index -> index in a copy with ``cut`` removed (constant frame rate)."""
    cuts = ranges_ok(cut, "cut")
    out: dict[int, int] = {}
    j = 0
    for i in range(plan.frames):
        if not in_ranges(plan.t0 + i / plan.fps, cuts):
            out[i] = j
            j += 1
    return out


def contact_sheet(
    dest_png: Path,
    src_redacted: Path,
    plan: RedactionPlan,
    n: int = 12,
    *,
    cut: Sequence[Range] = (),
    tile_width: int = 320,
    columns: int = 4,
) -> list[int]:
    """Write a PNG grid of ``n`` redacted frames with the plan's boxes outlined.

    Frames are spread evenly over those with boxes (over all frames when none has any).
    ``cut`` must be the cut ranges the copy was made with, to find its frames. Returns
    the source frame indices shown. Faces are outlined in red, regions in yellow.
    """
    if n < 1:
        raise InvalidInput("a contact sheet needs at least one frame")
    index_map = _kept_index_map(plan, cut)
    candidates = [i for i in plan.frames_with_boxes() if i in index_map] or sorted(index_map)
    if not candidates:
        raise InvalidInput("no frame left to show")
    if len(candidates) <= n:
        chosen = candidates
    else:
        picks = np.linspace(0, len(candidates) - 1, n).round().astype(int)
        chosen = sorted({candidates[k] for k in picks.tolist()})
    wanted = {index_map[i]: i for i in chosen}
    tiles: dict[int, _U8] = {}
    try:
        with av.open(str(src_redacted)) as inp:
            vs: Any = inp.streams.video[0]
            vs.codec_context.thread_type = "AUTO"
            last = max(wanted)
            for j, frame in enumerate(inp.decode(vs)):
                if j in wanted:
                    tiles[wanted[j]] = frame.to_ndarray(format="bgr24")
                if j >= last:
                    break
    except (av.error.FFmpegError, IndexError) as exc:
        raise InvalidInput(f"cannot read {src_redacted.name}: {exc}") from exc
    if not tiles:
        raise InvalidInput(f"{src_redacted.name} has none of the frames to show")
    sheet = _compose(tiles, plan, tile_width, columns)
    ok, buf = cv2.imencode(".png", sheet)
    if not ok:
        raise CustodesError("could not encode the contact sheet as PNG")
    tmp = dest_png.with_name(f".{dest_png.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        tmp.write_bytes(buf.tobytes())
        os.replace(tmp, dest_png)
    except OSError as exc:
        raise CustodesError(f"cannot write {dest_png}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return sorted(tiles)


def _compose(tiles: dict[int, _U8], plan: RedactionPlan, tile_width: int, columns: int) -> _U8:
    tw = min(tile_width, plan.width)
    th = round(plan.height * tw / plan.width)
    caption = 18
    cols = max(1, min(columns, len(tiles)))
    rows = math.ceil(len(tiles) / cols)
    gap = 4
    sheet = np.full((rows * (th + caption + gap) + gap, cols * (tw + gap) + gap, 3), 32, np.uint8)
    s = tw / plan.width
    for k, (i, img) in enumerate(sorted(tiles.items())):
        tile = cv2.resize(img, (tw, th), interpolation=cv2.INTER_AREA)
        for b in plan.boxes.get(i, []):
            color = (0, 0, 255) if b.kind == "face" else (0, 220, 255)
            p0 = (round(b.x0 * s), round(b.y0 * s))
            p1 = (round(b.x1 * s) - 1, round(b.y1 * s) - 1)
            cv2.rectangle(tile, p0, p1, color, 1, cv2.LINE_AA)
        r, c = divmod(k, cols)
        y0, x0 = gap + r * (th + caption + gap), gap + c * (tw + gap)
        sheet[y0 : y0 + th, x0 : x0 + tw] = tile
        n_boxes = len(plan.boxes.get(i, []))
        text = f"#{i}  {plan.t0 + i / plan.fps:.2f} s  {n_boxes} box{'es' if n_boxes != 1 else ''}"
        cv2.putText(
            sheet,
            text,
            (x0 + 3, y0 + th + caption - 5),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.4,
            (230, 230, 230),
            1,
            cv2.LINE_AA,
        )
    return sheet
