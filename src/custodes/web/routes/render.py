"""How a route answers: a use case's typed result as JSON (``core.jsontext.jsonable``,
the same shape as the CLI's ``--json``), and one page of a listing.

A route declares its ``response_model`` (the use case's result dataclass) so that the
OpenAPI document describes the answer; the body itself is what ``jsonable`` makes of the
result, the same for every front door.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from custodes.core.jsontext import jsonable

MAX_PAGE = 1000
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="At most this many items.")]
Offset = Annotated[int, Query(ge=0, description="Skip this many items first.")]
#: An identifier in a path (a case number, an evidence or request id, a username): the
#: services look it up; nothing here reads a file by it.
PathId = Annotated[str, Path(min_length=1, max_length=64)]


class Body(BaseModel):
    """A request body: unknown fields are refused (a misspelt ``reasn`` is an error, not
    an omitted reason), and so is a string where a number belongs."""

    model_config = ConfigDict(extra="forbid", strict=False)


def json(value: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(jsonable(value), status_code=status)


def page(items: list[Any], offset: int, limit: int) -> JSONResponse:
    """One page of a listing, with the whole count in ``X-Total-Count``."""
    response = json(items[offset : offset + limit])
    response.headers["X-Total-Count"] = str(len(items))
    return response
