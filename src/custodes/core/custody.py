"""Custody records: audit-log entries and the checks that prove the log whole.

An audit entry is the exact byte string that is hashed into the Merkle tree
(RFC 6962 leaf) and chained to the entry before it. Its layout is::

    <prev leaf hash, 64 hex> <seq>\\n<canonical JSON of the event>

The first line lets the verifier check the hash chain and the position of an
entry without parsing JSON; the JSON (sorted keys, no spaces, UTF-8) is what
people read. Nothing here touches a database or a file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from custodes.core import merkle
from custodes.core.checkpoint import Checkpoint
from custodes.core.errors import InvalidInput
from custodes.core.jsontext import JSONObject

ENTRY_VERSION = 1
GENESIS_HASH = bytes(32)


class Action(StrEnum):
    """What an audit event records."""

    VAULT_INIT = "vault-init"
    USER_ADD = "user-add"
    CASE_ADD = "case-add"
    CASE_STATUS = "case-status-change"
    CASE_FLAGS = "case-flag-change"
    CASE_ASSIGN = "case-assign"
    CASE_REACH_RESTORED = "case-reach-restored"
    INGEST = "ingest"
    INGEST_REFUSED = "ingest-refused"
    VIEW = "view"
    EXPORT = "export"
    SHARE = "share"
    ACCESS_REFUSED = "access-refused"
    INPUT_REFUSED = "input-refused"  # bad input (a mistyped value, a bad file): no access said no
    VERIFICATION = "verification"
    PROOF_ISSUED = "proof-issued"
    TRACE = "trace"
    INDEX = "fingerprint-index"
    LOCATE = "locate"  # a leak located in the archive, no copy attributed (issue 20)
    FINGERPRINT = "fingerprint"  # one fingerprint row written, with its digest (issue 22)
    EVIDENCE_FLAGS = "evidence-flag-change"
    REQUEST_ADD = "request-add"
    REQUEST_DECIDE = "request-decide"
    HOLD_REVIEW = "hold-review"
    RELEASE = "release"
    RELEASE_REFUSED = "release-refused"
    REDACT = "redact"
    # Web authentication (issue 18).
    SIGN_IN = "sign-in"
    SIGN_IN_FAILED = "sign-in-failed"
    ACCOUNT_LOCKED = "account-locked"
    MFA_ENROL = "mfa-enrol"
    RECOVERY_CODE_USED = "recovery-code-use"
    SIGN_OUT = "sign-out"
    SESSION_END = "session-end"
    TOKEN_CREATE = "token-create"
    TOKEN_USE = "token-use"
    TOKEN_REVOKE = "token-revoke"
    PASSWORD_SET = "password-set"
    # Passkeys (WebAuthn) beside TOTP (issue 18): one registered, used to sign in (with
    # its sign count), renamed, removed; a registration the server refused. A failed
    # assertion at sign-in is a ``sign-in-failed`` (step ``passkey``), counted as any.
    PASSKEY_ENROL = "passkey-enrol"
    PASSKEY_USE = "passkey-use"
    PASSKEY_RENAME = "passkey-rename"
    PASSKEY_REMOVE = "passkey-remove"
    PASSKEY_REFUSED = "passkey-refused"
    REDACTION_ACCEPT = "redaction-accept"
    POLICY_SET = "policy-set"
    REQUEST_REREVIEW = "request-rereview"
    BACKUP = "backup"  # the vault copied into a backup folder (issue 19)
    # Jobs (issues 18 and 19): long work requested now, run by a runner or a worker.
    JOB_REQUESTED = "job-requested"
    JOB_CANCEL = "job-cancel"
    JOB_STOPPED = "job-stopped"  # a job that ended without its use case's own event
    JOB_DONE = "job-done"  # a job whose work has no event of its own (a segment) finished
    # Marked playback (issue 18): a viewing is a kind of export made for its viewer.
    VIEWING_START = "viewing-started"
    VIEWING_RANGE = "viewing-range"
    # Resumable uploads (issue 18): one begun, and one ended without becoming evidence
    # (deleted by its owner, or swept when it expired); a finished one is an ``ingest``.
    UPLOAD_START = "upload-started"
    UPLOAD_END = "upload-ended"
    # Single sign-on with the department's OpenID Connect provider (issue 18): a person
    # the provider vouched for (signed in, or on to custodes' own second factor), and a
    # callback refused (bad state, bad token, unknown user), each with its reason.
    SSO_SIGN_IN = "sso-sign-in"
    SSO_SIGN_IN_FAILED = "sso-sign-in-failed"


@dataclass(frozen=True)
class AuditEvent:
    """One action on the record, before it is numbered and chained."""

    at: str  # ISO 8601 UTC
    actor: str
    action: str
    object_type: str | None = None
    object_id: str | None = None
    case_number: str | None = None
    evidence_id: str | None = None
    reason: str | None = None
    client: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self, seq: int) -> dict[str, Any]:
        return {
            "v": ENTRY_VERSION,
            "seq": seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "object": {"type": self.object_type, "id": self.object_id},
            "case": self.case_number,
            "evidence": self.evidence_id,
            "reason": self.reason,
            "client": self.client,
            "details": dict(self.details),
        }


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def encode_entry(seq: int, prev_leaf_hash: bytes, event: AuditEvent) -> bytes:
    """The leaf bytes of event number ``seq`` chained after ``prev_leaf_hash``."""
    if len(prev_leaf_hash) != 32:
        raise InvalidInput("previous leaf hash must be 32 bytes")
    head = f"{prev_leaf_hash.hex()} {seq}\n".encode()
    return head + canonical_json(event.to_json(seq))


def entry_head(entry: bytes) -> tuple[str, int]:
    """(prev hash hex, seq) from the first line of an entry, without parsing JSON."""
    nl = entry.find(b"\n", 0, 100)
    seq_text = entry[65:nl]
    if nl < 66 or entry[64:65] != b" " or not seq_text.isdigit():
        raise InvalidInput("audit entry has a malformed first line")
    return entry[:64].decode("ascii", errors="replace"), int(seq_text)


def decode_entry(entry: bytes) -> dict[str, Any]:
    """The event of an entry as a dict (with ``prev`` and ``seq``); InvalidInput if malformed."""
    try:
        prev_hex, seq = entry_head(entry)
        body = json.loads(entry[entry.index(b"\n") + 1 :])
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"audit entry is malformed: {exc}") from exc
    if not isinstance(body, dict) or body.get("seq") != seq:
        raise InvalidInput("audit entry body does not match its first line")
    body["prev"] = prev_hex
    return body


@dataclass(frozen=True)
class Problem:
    """One thing verification found wrong."""

    kind: str
    detail: str
    seq: int | None = None
    blob: str | None = None

    def to_dict(self) -> JSONObject:
        out: JSONObject = {"kind": self.kind, "detail": self.detail}
        if self.seq is not None:
            out["seq"] = self.seq
        if self.blob is not None:
            out["blob"] = self.blob
        return out


def _to_bytes(value: Any) -> bytes:
    """Column bytes; text put in a binary column behind our back still gets checked."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode()


_ENTRY_KEY = {"case_number": "case", "evidence_id": "evidence"}
"""The entry's key of each indexed column of ``audit_events`` whose name differs."""


def _index_marker(key: str, value: str | None) -> bytes:
    """How ``"key":value`` appears in a canonical entry."""
    if value is None:
        return f'"{key}":null'.encode()
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{key}":"{value}"'.encode()
    return f'"{key}":'.encode() + json.dumps(value, ensure_ascii=False).encode()


class LogVerifier:
    """Streams the stored log once and collects every problem it finds.

    Feed rows in ``seq`` order. Checks, per row: the entry hashes to the stored leaf
    hash (an edit), the entry's own number equals its position (a reorder or a gap),
    the hash chain links to the previous entry, and each column stored beside the entry
    (``at``, ``actor``, ``action``, ``case_number``, ``evidence_id``) says what the entry
    says. At each size where a signed checkpoint exists, the recomputed Merkle root
    must equal the signed one. At the end, the log must be at least as long as the
    newest checkpoint (a trimmed log).

    :meth:`feed_many` is the fast path for a whole stream: it keeps the tree's right
    edge (RFC 6962 compact range) in local variables and hands any row that is not
    perfectly in order to :meth:`feed`, which says what is wrong with it.
    """

    MAX_PROBLEMS = 1000

    def __init__(self, checkpoints: Iterable[Checkpoint]) -> None:
        self._checkpoints: dict[int, Checkpoint] = {}
        for cp in checkpoints:
            self._checkpoints[cp.size] = cp
        self._stack: list[bytes] = []  # perfect-subtree hashes, left to right
        self._size = 0
        self._prev = GENESIS_HASH
        self._expected_seq = 0
        self.problems: list[Problem] = []
        self.checked_checkpoints = 0
        self._reported = 0

    @property
    def size(self) -> int:
        return self._size

    @property
    def last_leaf_hash(self) -> bytes:
        """The leaf hash of the last event fed (the genesis hash before any)."""
        return self._prev

    def root(self) -> bytes:
        return merkle.CompactRange(self._size, self._stack).root()

    def _problem(self, kind: str, detail: str, seq: int | None = None) -> None:
        self._reported += 1
        if len(self.problems) < self.MAX_PROBLEMS:
            self.problems.append(Problem(kind, detail, seq=seq))

    def _push(self, leaf: bytes) -> None:
        stack, s, h = self._stack, self._size, leaf
        while s & 1:
            h = merkle.node_hash(stack.pop(), h)
            s >>= 1
        stack.append(h)
        self._size += 1
        self._prev = leaf
        cp = self._checkpoints.get(self._size)
        if cp is not None:
            self._check_checkpoint(cp)

    def feed_many(self, rows: Iterable[Sequence[Any]]) -> int:
        """Feed a stream of rows
        ``(seq, entry, leaf_hash, actor, action, case, evidence, at)``.

        Returns how many were fed. Bytes columns may arrive as ``memoryview``.
        """
        sha = hashlib.sha256
        checkpoints = self._checkpoints
        cache: dict[tuple[str, str | None], bytes] = {}
        marker = _index_marker
        stack = self._stack
        count = 0
        for row in rows:
            seq, entry, stored, actor, action, case_number, evidence_id, at = row
            if type(entry) is not bytes:
                entry = _to_bytes(entry)
                stored = _to_bytes(stored)
            count += 1
            leaf = sha(b"\x00" + entry).digest()
            ok = (
                seq == self._expected_seq
                and leaf == stored
                and entry.startswith(b"%s %d\n" % (self._prev.hex().encode(), seq))
            )
            if ok:
                m_actor = cache.get(("actor", actor))
                if m_actor is None:
                    m_actor = cache[("actor", actor)] = marker("actor", actor)
                m_action = cache.get(("action", action))
                if m_action is None:
                    m_action = cache[("action", action)] = marker("action", action)
                m_case = cache.get(("case", case_number))
                if m_case is None:
                    m_case = cache[("case", case_number)] = marker("case", case_number)
                ok = (
                    m_actor in entry
                    and m_action in entry
                    and m_case in entry
                    and marker("evidence", evidence_id) in entry
                    and marker("at", at) in entry
                )
            if not ok:
                self.feed(seq, entry, stored, actor, action, case_number, evidence_id, at)
                continue
            self._expected_seq = seq + 1
            s, h = self._size, leaf
            while s & 1:
                h = sha(b"\x01" + stack.pop() + h).digest()
                s >>= 1
            stack.append(h)
            self._size += 1
            self._prev = leaf
            if checkpoints and self._size in checkpoints:
                self._check_checkpoint(checkpoints[self._size])
            if len(cache) > 100_000:
                cache.clear()
        return count

    def feed(
        self,
        seq: int,
        entry: bytes,
        stored_leaf_hash: bytes,
        actor: str,
        action: str,
        case_number: str | None,
        evidence_id: str | None,
        at: str,
    ) -> None:
        if seq != self._expected_seq:
            if seq > self._expected_seq:
                missing = seq - self._expected_seq
                self._problem(
                    "event-missing",
                    f"{missing} event(s) missing before seq {seq} "
                    f"(expected seq {self._expected_seq})",
                    seq=self._expected_seq,
                )
            else:
                self._problem("event-duplicated", f"seq {seq} appears again", seq=seq)
        self._expected_seq = seq + 1

        leaf = merkle.leaf_hash(entry)
        if leaf != stored_leaf_hash:
            self._problem("event-edited", f"event {seq} does not hash to its recorded hash", seq)
        try:
            prev_hex, own_seq = entry_head(entry)
        except InvalidInput:
            self._problem("event-edited", f"event {seq} has a malformed entry", seq)
            prev_hex, own_seq = "", seq
        if own_seq != seq:
            self._problem(
                "event-reordered",
                f"the event stored at seq {seq} was written as seq {own_seq}",
                seq,
            )
        if prev_hex != self._prev.hex():
            self._problem("chain-broken", f"event {seq} does not chain to the event before it", seq)
        columns = {
            "at": at,
            "actor": actor,
            "action": action,
            "case_number": case_number,
            "evidence_id": evidence_id,
        }
        differ = [
            column
            for column, value in columns.items()
            if _index_marker(_ENTRY_KEY.get(column, column), value) not in entry
        ]
        if differ:
            self._problem(
                "index-mismatch",
                f"event {seq}: column{'s' if len(differ) > 1 else ''} {', '.join(differ)} "
                f"disagree{'' if len(differ) > 1 else 's'} with the entry",
                seq,
            )
        self._push(leaf)

    def _check_checkpoint(self, cp: Checkpoint) -> None:
        self.checked_checkpoints += 1
        if self.root() != cp.root_hash:
            self._problem(
                "checkpoint-mismatch",
                f"the log's first {cp.size} events do not match the signed checkpoint "
                f"of that size (an event was edited, removed, inserted or reordered)",
            )

    def finish(self) -> list[Problem]:
        newest = max(self._checkpoints, default=0)
        if newest > self._size:
            self._problem(
                "log-truncated",
                f"the log has {self._size} events but a signed checkpoint covers {newest}",
            )
        if self._reported > len(self.problems):
            self.problems.append(
                Problem("more-problems", f"{self._reported - len(self.problems)} more not listed")
            )
        return self.problems
