"""Kept only while ``services.redaction`` still parses its ``mute`` ranges itself.

Range syntax ("START-END") is the CLI's (``custodes.cli.parsing.parse_ranges``); services
take parsed ranges and check them with :func:`custodes.services.requests.check_ranges`.
Remove this module once redaction takes parsed ranges.
"""

from __future__ import annotations

from collections.abc import Sequence

from custodes.core.errors import InvalidInput
from custodes.services.requests.facts import check_ranges


def _parse_ranges(texts: Sequence[str]) -> list[list[float]]:
    out: list[tuple[float, float]] = []
    for text in texts:
        try:
            a, b = (float(x) for x in text.split("-", 1))
        except ValueError:
            raise InvalidInput(f"a range is START-END in seconds, e.g. 30-90: '{text}'") from None
        out.append((a, b))
    return [[a, b] for a, b in check_ranges(out, "mute")]
