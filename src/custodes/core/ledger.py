"""The vault's state as its signed log tells it (issue 22: state bound to the log).

The tables are what the use cases read quickly; the log is what the vault can prove.
:class:`Ledger` replays decoded log entries (oldest first) into the state they vouch
for: users and roles, cases with their status, flags, members and restored reach,
evidence with its hash, recording officer and flags, and exports with their recipient
and mark parameters. :func:`compare` then names every row of the tables that disagrees
with that state, is missing from them, or is in them without an event that made it.

Pure: entries come in as the dictionaries ``custody.decode_entry`` gives, the tables'
state as the same values built by the repositories.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from custodes.core.custody import Action, Problem


@dataclass(frozen=True)
class UserState:
    username: str
    role: str


@dataclass(frozen=True)
class CaseState:
    number: str
    title: str
    status: str
    flags: frozenset[str] = frozenset()
    members: frozenset[str] = frozenset()
    restored: frozenset[str] = frozenset()


@dataclass(frozen=True)
class EvidenceState:
    evidence_id: str
    case: str
    sha256: str
    size: int
    officer: str | None
    flags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ExportState:
    export_id: str
    evidence_id: str
    recipient: str
    purpose: str | None
    start_s: float
    end_s: float
    output_sha256: str
    key_version: int


@dataclass
class VaultState:
    """The facts the vault acts on, by key."""

    users: dict[str, UserState] = field(default_factory=dict)
    cases: dict[str, CaseState] = field(default_factory=dict)
    evidence: dict[str, EvidenceState] = field(default_factory=dict)
    exports: dict[str, ExportState] = field(default_factory=dict)


class Ledger:
    """Replays log entries into the :class:`VaultState` they vouch for."""

    def __init__(self) -> None:
        self.state = VaultState()
        self.problems: list[Problem] = []

    def feed(self, entries: Iterable[Mapping[str, Any]]) -> None:
        for entry in entries:
            self.apply(entry)

    def apply(self, entry: Mapping[str, Any]) -> None:
        action = entry.get("action")
        details = entry.get("details") or {}
        handler = _HANDLERS.get(str(action))
        if handler is None:
            return
        try:
            handler(self.state, entry, details)
        except (KeyError, TypeError, ValueError) as exc:
            self.problems.append(
                Problem(
                    "state-event-unreadable",
                    f"event {entry.get('seq')} ({action}) does not say what it changed: {exc}",
                    entry.get("seq"),
                )
            )


def _user_add(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    name = str(entry["object"]["id"])
    state.users[name] = UserState(name, str(details["role"]))


def _case_add(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    number = str(entry["case"])
    state.cases[number] = CaseState(number, str(details["title"]), str(details["status"]))


def _case_status(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    number = str(entry["case"])
    state.cases[number] = replace(state.cases[number], status=str(details["to"]))


def _case_flags(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    number = str(entry["case"])
    case = state.cases[number]
    restored = frozenset() if "reach_withdrawn" in details else case.restored
    state.cases[number] = replace(
        case, flags=frozenset(str(f) for f in details["flags"]), restored=restored
    )


def _case_assign(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    number = str(entry["case"])
    case = state.cases[number]
    state.cases[number] = replace(case, members=case.members | {str(details["user"])})


def _reach_restored(
    state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]
) -> None:
    number = str(entry["case"])
    case = state.cases[number]
    user = str(details["user"])
    state.cases[number] = replace(
        case, members=case.members | {user}, restored=case.restored | {user}
    )


def _ingest(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    evidence_id = str(entry["evidence"])
    officer = details.get("officer")
    state.evidence[evidence_id] = EvidenceState(
        evidence_id,
        str(entry["case"]),
        str(details["sha256"]),
        int(details["size"]),
        None if officer is None else str(officer),
    )


def _evidence_flags(
    state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]
) -> None:
    evidence_id = str(entry["evidence"])
    ev = state.evidence[evidence_id]
    flags = (ev.flags | {str(f) for f in details["added"]}) - {str(f) for f in details["removed"]}
    state.evidence[evidence_id] = replace(ev, flags=frozenset(flags))


def _export(state: VaultState, entry: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    export_id = str(entry["object"]["id"])
    reason = entry.get("reason")
    state.exports[export_id] = ExportState(
        export_id,
        str(entry["evidence"]),
        str(details["recipient"]),
        None if reason is None else str(reason),
        float(details["start_s"]),
        float(details["end_s"]),
        str(details["output_sha256"]),
        int(details["key_version"]),
    )


_HANDLERS = {
    str(Action.USER_ADD): _user_add,
    str(Action.CASE_ADD): _case_add,
    str(Action.CASE_STATUS): _case_status,
    str(Action.CASE_FLAGS): _case_flags,
    str(Action.CASE_ASSIGN): _case_assign,
    str(Action.CASE_REACH_RESTORED): _reach_restored,
    str(Action.INGEST): _ingest,
    str(Action.EVIDENCE_FLAGS): _evidence_flags,
    str(Action.EXPORT): _export,
}


VOUCHED_ACTIONS = frozenset(_HANDLERS)
"""The actions whose events change a fact the vault acts on."""


def compare(vouched: VaultState, stored: VaultState) -> list[Problem]:
    """Every row of ``stored`` (the tables) that the log does not vouch for, by name."""
    problems: list[Problem] = []
    for kind, expected, actual in (
        ("user", vouched.users, stored.users),
        ("case", vouched.cases, stored.cases),
        ("evidence", vouched.evidence, stored.evidence),
        ("export", vouched.exports, stored.exports),
    ):
        for key in sorted(expected.keys() - actual.keys()):
            problems.append(
                Problem("state-row-missing", f"{kind} {key} is on the log but not in the tables")
            )
        for key in sorted(actual.keys() - expected.keys()):
            problems.append(
                Problem("state-row-unlogged", f"{kind} {key} is in the tables but no event made it")
            )
        for key in sorted(expected.keys() & actual.keys()):
            want, have = expected[key], actual[key]
            if want != have:
                problems.append(
                    Problem(
                        "state-row-altered",
                        f"{kind} {key} differs from the log in {', '.join(_differing(want, have))}",
                    )
                )
    return problems


def _differing(want: object, have: object) -> list[str]:
    fields = getattr(want, "__dataclass_fields__", {})
    return [name for name in fields if getattr(want, name) != getattr(have, name)] or ["value"]


# ------------------------------------------------------------- the policy pack in force
# The pack in force is not a row: it is the latest signed ``policy-set`` event, which
# names the pack's SHA-256 (its bytes are kept in the blob store by that hash). Replaying
# those events gives the vault's whole policy history; the last one is in force.


@dataclass(frozen=True)
class PackSetting:
    """One ``policy-set`` event: which pack the vault put in force, when and by whom."""

    seq: int
    at: str
    actor: str
    name: str
    version: str
    sha256: str
    source: str
    """The file name the pack was read from (``colorado.yaml``, ``dept-2027.yaml``)."""
    size: int
    reason: str | None
    previous_sha256: str | None


def pack_setting(entry: Mapping[str, Any]) -> PackSetting:
    """The setting a decoded ``policy-set`` entry records; KeyError, TypeError or
    ValueError when it does not say (a malformed event)."""
    if entry.get("action") != str(Action.POLICY_SET):
        raise ValueError(f"event {entry.get('seq')} is not a policy-set event")
    details = entry["details"]
    sha = str(details["sha256"])
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise ValueError(f"event {entry.get('seq')} names no SHA-256")
    previous = details.get("previous_sha256")
    reason = entry.get("reason")
    return PackSetting(
        seq=int(entry["seq"]),
        at=str(entry["at"]),
        actor=str(entry["actor"]),
        name=str(details["name"]),
        version=str(details["version"]),
        sha256=sha,
        source=str(details["source"]),
        size=int(details["size"]),
        reason=None if reason is None else str(reason),
        previous_sha256=None if previous is None else str(previous),
    )


def pack_history(entries: Iterable[Mapping[str, Any]]) -> tuple[list[PackSetting], list[Problem]]:
    """Every pack setting of decoded ``policy-set`` entries (oldest first), and a problem
    for each that does not say what it set; the last setting is the pack in force."""
    settings: list[PackSetting] = []
    problems: list[Problem] = []
    for entry in entries:
        try:
            settings.append(pack_setting(entry))
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(
                Problem(
                    "state-event-unreadable",
                    f"event {entry.get('seq')} (policy-set) does not say which pack: {exc}",
                    entry.get("seq"),
                )
            )
    return settings, problems
