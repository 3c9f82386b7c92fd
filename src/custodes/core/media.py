"""Values describing media. Pure data: probing lives in ``custodes.media``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class MediaInfo:
    """What a probe learned of a video file."""

    container: str
    video_codec: str
    width: int
    height: int
    fps: float
    duration_s: float
    frame_count: int | None
    audio_codec: str | None
    audio_channels: int | None
    audio_sample_rate: int | None
    creation_time: str | None  # ISO 8601 from the container's metadata, if any

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
