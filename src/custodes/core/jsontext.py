"""Strict parsing of JSON documents that come from outside (sidecars, proof files).

``json.loads`` raises ``RecursionError`` on deeply nested input (``[[[[...]]]]``), which
is not a ``ValueError``; it also accepts duplicate keys (the last one wins) and the
non-standard constants ``NaN`` and ``Infinity``. :func:`loads` refuses all of these,
and anything else malformed, with one :class:`InvalidInput`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from pathlib import PurePath
from typing import Any

from typing_extensions import TypeAliasType

from custodes.core.errors import InvalidInput

__all__ = ["JSONObject", "JSONValue", "jsonable", "loads"]

JSONValue = TypeAliasType(
    "JSONValue", "str | int | float | bool | list[JSONValue] | dict[str, JSONValue] | None"
)
"""A value of a JSON document (a stored lineage, a decision's record); a named recursive
alias, so that a result holding one can be described (the web's OpenAPI document)."""
JSONObject = dict[str, JSONValue]


def jsonable(value: Any) -> Any:
    """A use case's typed result as plain JSON values, the same for every front door.

    Dataclasses become objects with their field names (so a result's field names are
    the public JSON contract), enums their values, sets sorted lists, paths and dates
    strings; fields named with a leading underscore are left out.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: jsonable(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not f.name.startswith("_")
        }
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def loads(text: str | bytes, what: str, *, max_bytes: int) -> Any:
    """Parse ``text``; raise ``InvalidInput("<what>: ...")`` if it is not strict JSON."""
    if len(text) > max_bytes:
        raise InvalidInput(f"{what}: larger than {max_bytes} bytes")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except RecursionError:
        raise InvalidInput(f"{what}: not valid JSON (nested too deeply)") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise InvalidInput(f"{what}: not valid JSON ({reason})") from exc


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")
