"""Single frames as PNG images, for reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import cv2

from custodes.core.errors import InvalidInput


def frame_png(path: Path, t: float, *, max_width: int = 480) -> tuple[bytes, float]:
    """The frame shown at time ``t`` (seconds) as PNG bytes, and its aspect ratio h/w."""
    try:
        with av.open(str(path)) as container:
            stream: Any = container.streams.video[0]
            stream.codec_context.thread_type = "AUTO"
            if t > 1.0:
                container.seek(int(max(0.0, t - 1.0) / stream.time_base), stream=stream)
            chosen = None
            for frame in container.decode(stream):
                chosen = frame
                if frame.time is not None and frame.time >= t - 1e-3:
                    break
    except av.error.FFmpegError as exc:
        raise InvalidInput(f"cannot read a frame of {path.name}: {exc}") from exc
    if chosen is None:
        raise InvalidInput(f"{path.name} has no frame at {t:.2f} s")
    img = chosen.to_ndarray(format="bgr24")
    h, w = img.shape[:2]
    if w > max_width:
        img = cv2.resize(img, (max_width, round(h * max_width / w)), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise InvalidInput("could not encode a PNG")
    return buf.tobytes(), h / w
