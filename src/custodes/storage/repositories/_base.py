"""What the repositories share: the stored forms of flags and media."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable

from custodes.core.media import MediaInfo

_MEDIA_FIELDS = frozenset(f.name for f in dataclasses.fields(MediaInfo))


def split_flags(text: str) -> list[str]:
    """The stored form of a set of flags: sorted, comma separated."""
    return [f for f in text.split(",") if f]


def join_flags(flags: Iterable[str]) -> str:
    return ",".join(sorted(flags))


def media_info(text: str) -> MediaInfo:
    """A stored probe result (JSON); keys this version does not know are left out."""
    data = json.loads(text)
    return MediaInfo(**{k: v for k, v in data.items() if k in _MEDIA_FIELDS})
