"""Stored JSON documents, parsed once where they are read."""

from __future__ import annotations

import json
from typing import cast

from custodes.core.jsontext import JSONObject


def json_object(text: str) -> JSONObject:
    """A stored JSON object (a decision, a lineage, a manifest)."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"a stored document is not a JSON object: {text[:40]!r}")
    return cast(JSONObject, data)


def dumps(document: object) -> str:
    """The stored form of a document: sorted keys, so equal documents store equal."""
    return json.dumps(document, sort_keys=True, default=str)
