"""Request bodies that are files: streamed to disk as they arrive, never held in memory.

A route that takes a file (a leaked clip on the leak investigation page or ``POST
/api/v1/traces``) has its path in ``app.state.large_body_prefixes`` (the 1 MiB limit of
``web/security.py`` does not apply to it) and reads its body here, which stops at its own
limit: at most ``limit + 1`` bytes are written, so that the use case, which refuses a
file over the limit on record, sees that it is.

:func:`save_multipart` reads ``multipart/form-data`` (RFC 7578) as a browser's form sends
it: small text fields, and one file field written to disk. It is written here, streaming,
rather than taken from Starlette's form parser, which needs the ``python-multipart``
package and spools files to the system's temporary folder, not the vault's.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from fastapi import Request

from custodes.core.errors import InvalidInput

MAX_FIELD = 4096
MAX_FIELDS = 16
MAX_HEADERS = 16 * 1024


def _new_file(folder: Path) -> tuple[Path, BinaryIO]:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / f"incoming-{secrets.token_hex(8)}"
    return path, open(path, "xb")


async def save_body(request: Request, folder: Path, limit: int) -> Path:
    """The request's body in a new file under ``folder`` (at most ``limit + 1`` bytes)."""
    path, out = _new_file(folder)
    try:
        with out:
            written = 0
            async for chunk in request.stream():
                room = limit + 1 - written
                out.write(chunk[:room])
                written += min(len(chunk), room)
                if written > limit:
                    break
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


@dataclass
class Multipart:
    """A form's text fields, and its one file (None: the form sent none)."""

    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    file: Path | None = None


_BOUNDARY = re.compile(r'boundary="?([^";]{1,70})"?', re.IGNORECASE)
_NAME = re.compile(r'\bname="([^"]*)"', re.IGNORECASE)
_FILENAME = re.compile(r'\bfilename="([^"]*)"', re.IGNORECASE)


async def save_multipart(request: Request, folder: Path, file_field: str, limit: int) -> Multipart:
    """A ``multipart/form-data`` body: its text fields (each at most 4 KiB), and the
    part named ``file_field`` written to a new file under ``folder`` (at most ``limit +
    1`` bytes: reading stops there, and the fields after it are not read). InvalidInput
    for a body that is not such a form; the file is removed if reading fails."""
    kind = request.headers.get("content-type", "")
    found = _BOUNDARY.search(kind)
    if not kind.lower().startswith("multipart/form-data") or found is None:
        raise InvalidInput("a file is sent as multipart/form-data", field=file_field)
    parser = _Parser(found.group(1).encode("latin-1"), folder, file_field, limit)
    try:
        async for chunk in request.stream():
            if parser.feed(chunk):
                break
        parser.finish()
    except BaseException:
        parser.discard()
        raise
    return parser.result


class _Parser:
    """The states of a multipart body: preamble, a delimiter, a part's headers, its body."""

    def __init__(self, boundary: bytes, folder: Path, file_field: str, limit: int) -> None:
        self.delim = b"\r\n--" + boundary
        self.buf = b"\r\n"  # so the first delimiter reads as every other one
        self.state = "preamble"
        self.folder, self.file_field, self.limit = folder, file_field, limit
        self.result = Multipart()
        self.name: str | None = None
        self.value = bytearray()
        self.out: BinaryIO | None = None
        self.written = 0
        self.done = False

    def feed(self, chunk: bytes) -> bool:
        """Take a chunk; True once nothing more need be read."""
        self.buf += chunk
        while not self.done:
            if not self._step():
                break
        return self.done

    def _step(self) -> bool:
        """Advance one state if the buffer allows; False: wait for more bytes."""
        if self.state == "preamble":
            i = self.buf.find(self.delim)
            if i < 0:
                self.buf = self.buf[-len(self.delim) :]
                return False
            self.buf = self.buf[i + len(self.delim) :]
            self.state = "delimiter"
        if self.state == "delimiter":
            if len(self.buf) < 2:
                return False
            if self.buf[:2] == b"--":
                self.done = True
                return False
            if self.buf[:2] != b"\r\n":
                raise InvalidInput("the form's body is malformed (after a boundary)")
            self.buf = self.buf[2:]
            self.state = "headers"
        if self.state == "headers":
            i = self.buf.find(b"\r\n\r\n")
            if i < 0:
                if len(self.buf) > MAX_HEADERS:
                    raise InvalidInput("the form's body is malformed (a part's headers)")
                return False
            self._open(self.buf[:i].decode("latin-1"))
            self.buf = self.buf[i + 4 :]
            self.state = "body"
        i = self.buf.find(self.delim)
        if i >= 0:
            self._write(self.buf[:i])
            self._close()
            self.buf = self.buf[i + len(self.delim) :]
            self.state = "delimiter"
            return not self.done
        keep = len(self.delim) - 1
        if len(self.buf) > keep:
            self._write(self.buf[:-keep])
            self.buf = self.buf[-keep:]
        return False

    def _open(self, headers: str) -> None:
        disposition = next(
            (h for h in headers.split("\r\n") if h.lower().startswith("content-disposition:")),
            "",
        )
        name = _NAME.search(disposition)
        if name is None:
            raise InvalidInput("the form's body is malformed (a part without a name)")
        self.name = name.group(1)
        filename = _FILENAME.search(disposition)
        if self.name == self.file_field and filename is not None:
            if self.result.file is not None:
                raise InvalidInput(f"the form sends more than one {self.file_field}")
            self.result.filename = filename.group(1)
            self.result.file, self.out = _new_file(self.folder)
            self.written = 0
        elif len(self.result.fields) >= MAX_FIELDS:
            raise InvalidInput("the form has too many fields")

    def _write(self, data: bytes) -> None:
        if self.out is not None:
            room = self.limit + 1 - self.written
            self.out.write(data[:room])
            self.written += min(len(data), room)
            if self.written > self.limit:  # the use case refuses it, on record
                self._close()
                self.done = True
        elif self.name == self.file_field and self.result.file is not None:
            return  # the rest of a file over the limit
        else:
            if len(self.value) + len(data) > MAX_FIELD:
                raise InvalidInput(f"the form's field {self.name} is longer than {MAX_FIELD} bytes")
            self.value += data

    def _close(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None
        elif (
            self.name is not None
            and self.name != self.file_field
            and self.name not in self.result.fields
        ):
            try:
                self.result.fields[self.name] = self.value.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidInput(f"the form's field {self.name} is not UTF-8") from exc
        self.name, self.value = None, bytearray()

    def finish(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None
        if not self.done:
            self.discard()
            raise InvalidInput("the form's body ended before its last boundary")

    def discard(self) -> None:
        if self.out is not None:
            with contextlib.suppress(OSError):
                self.out.close()
            self.out = None
        if self.result.file is not None:
            self.result.file.unlink(missing_ok=True)
            self.result.file = None
