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
    # A damaged recording (truncated, or corrupt part-way) kept as it is: what the probe
    # found. ``duration_s`` and ``frame_count`` then describe the readable part (from
    # the start to the first fault); the declared ones are what the file claims.
    damage: str | None = None
    declared_frame_count: int | None = None
    declared_duration_s: float | None = None

    @property
    def damaged(self) -> bool:
        return self.damage is not None

    def readable(self) -> str:
        """What can be decoded, for messages: ``0 to 4.53 s (68 frames)``."""
        frames = f" ({self.frame_count} frames)" if self.frame_count is not None else ""
        return f"0 to {self.duration_s:.2f} s{frames}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
