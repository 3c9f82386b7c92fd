"""The one exception tree of custodes.

Every error a user can meet derives from :class:`CustodesError`. Each class carries the
process exit code and the HTTP status that the CLI and the web layer use, and a
``diagnostics()`` text with advice for people::

    CustodesError              anything not listed below        HTTP 500, exit 1
    ├── InvalidInput           malformed request or file        HTTP 422, exit 3
    ├── NotFound               no such case, item or blob       HTTP 404, exit 4
    ├── PermissionDenied       authorization said no            HTTP 403, exit 5
    │   ├── ReasonRequired     a stated reason is needed        HTTP 403, exit 5
    │   └── Unauthenticated    no proven identity (web, token)  HTTP 401, exit 5
    │       └── AccountLocked  too many failed sign-ins         HTTP 429, exit 5
    ├── CustodyConflict        illegal custody state change     HTTP 409, exit 6
    ├── IntegrityFailure       hash, proof or signature wrong   HTTP 500, exit 7
    │   └── ProofError         a Merkle proof does not verify   HTTP 500, exit 7
    └── BackendUnavailable     database, store or broker down   HTTP 503, exit 8

An error about one input names its field in the service's own terms (``start``,
``recorded_at``), and its message refers to fields as ``{start}``; each front door renders
them its own way (``--start`` on the CLI, the JSON field on the web), see
:meth:`CustodesError.render`.

Exit code 2 is left to Click/Typer for usage errors. Adapters translate foreign
exceptions (SQLAlchemy, PyAV, OS errors) into these at the boundary with
``raise ... from exc``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


def _plain(field: str) -> str:
    return field


class CustodesError(Exception):
    """Base of every custodes error."""

    exit_code: int = 1
    http_status: int = 500
    advice: str = ""

    def __init__(
        self,
        message: str,
        *,
        advice: str | None = None,
        field: str | None = None,
        fields: Sequence[str] = (),
    ) -> None:
        # One line: the CLI prints str(err) on stderr and nothing else.
        self.template = " ".join(message.split())
        self.fields: tuple[str, ...] = tuple(dict.fromkeys([*([field] if field else []), *fields]))
        super().__init__(self.render())
        if advice is not None:
            self.advice = advice

    @property
    def field(self) -> str | None:
        """The input this error is about, where it is about one."""
        return self.fields[0] if self.fields else None

    def render(self, name: Callable[[str], str] = _plain) -> str:
        """The message with each ``{field}`` it refers to named by ``name``."""
        return _named(self.template, self.fields, name)

    def render_advice(self, name: Callable[[str], str] = _plain) -> str:
        return _named(self.advice, self.fields, name)

    @property
    def message(self) -> str:
        return str(self)

    def diagnostics(self) -> str:
        text = str(self)
        if self.advice:
            text += f"\n  hint: {self.render_advice()}"
        return text


class InvalidInput(CustodesError):
    """A malformed request, argument or file."""

    exit_code = 3
    http_status = 422


class NotFound(CustodesError):
    """No such user, case, evidence, event or blob."""

    exit_code = 4
    http_status = 404


class PermissionDenied(CustodesError):
    """Authorization said no."""

    exit_code = 5
    http_status = 403


class ReasonRequired(PermissionDenied):
    """The object is sensitive: the actor must state a reason to open it."""


class Unauthenticated(PermissionDenied):
    """The caller has not proved who they are: no session, an ended or locked one, a
    wrong password or second factor, an unknown, expired or revoked token."""

    http_status = 401


class AccountLocked(Unauthenticated):
    """Too many failed sign-ins: the account is locked for a while."""

    http_status = 429


class CustodyConflict(CustodesError):
    """An illegal state change (duplicate, closed case, already exists)."""

    exit_code = 6
    http_status = 409


class IntegrityFailure(CustodesError):
    """A hash, signature, chain or proof does not check out."""

    exit_code = 7
    http_status = 500


class ProofError(IntegrityFailure):
    """A Merkle inclusion or consistency proof does not verify."""


class BackendUnavailable(CustodesError):
    """The database, the blob store or the broker cannot be reached."""

    exit_code = 8
    http_status = 503


def _named(text: str, fields: Sequence[str], name: Callable[[str], str]) -> str:
    for field in fields:
        text = text.replace("{" + field + "}", name(field))
    return text
