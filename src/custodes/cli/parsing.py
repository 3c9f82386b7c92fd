"""The CLI's own syntax, parsed before a service is called.

Services take parsed values (``core.errors``: an error names its field, and the CLI
names the field by its option); what is written only on a command line is read here:
ranges as ``START-END`` in seconds, dates as ``YYYY-MM-DD``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from custodes.core.errors import InvalidInput


def parse_range(text: str, field: str = "ranges") -> tuple[float, float]:
    """``START-END`` in seconds, e.g. ``30-90``; whether the numbers make a portion of a
    recording (finite, in order, within it) is the service's to check."""
    try:
        a, b = (float(x) for x in text.split("-", 1))
    except ValueError:
        raise InvalidInput(
            f"a range is START-END in seconds, e.g. 30-90: '{text}'", field=field
        ) from None
    return a, b


def parse_ranges(texts: Iterable[str] | None, field: str = "ranges") -> list[tuple[float, float]]:
    return [parse_range(text, field) for text in texts or ()]


def parse_date(text: str | None, field: str) -> date | None:
    """``YYYY-MM-DD`` (anything after the first ten characters, such as a time, is
    ignored); None stays None."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise InvalidInput(
            f"{{{field}}} is not a date (YYYY-MM-DD): '{text}'", field=field
        ) from None
