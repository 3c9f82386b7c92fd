"""Releases: the package a recorded decision allows, made for the requester.

Redacted, watermarked copies of the allowed portions (exports to the requester, each
with signed Content Credentials), a manifest and the letter. A failed release leaves
nothing in its folder.

A release redacts nothing itself that nobody reviewed (issue 22): each recording whose
decision requires redactions is released from a stored redaction that a person accepted
as covering every kind required (:mod:`custodes.services.acceptance`), read from the
signed log; otherwise the release is refused, on record. The decision's ``cut`` ranges
are left out by the release itself. The manifest, the letter and each copy's Content
Credentials state only what was applied to that copy, with its lineage.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from custodes.core import redactions as coverage
from custodes.core.authz import Permission
from custodes.core.custody import Action
from custodes.core.errors import (
    CustodesError,
    CustodyConflict,
    IntegrityFailure,
    InvalidInput,
    NotFound,
)
from custodes.core.jsontext import JSONObject, JSONValue, jsonable
from custodes.core.ledger import document_digest
from custodes.core.ports import ProgressTask, SigningCredential
from custodes.core.records import Case, Derivative, Evidence, RecordedDecision, Request, TimeSpan
from custodes.services.acceptance import (
    AcceptedRedaction,
    accepted_redactions,
    signed_redaction,
)
from custodes.services.common import new_id, now_iso, verified_original
from custodes.services.context import Context
from custodes.services.requests.decisions import write_letter
from custodes.services.requests.facts import asked_evidence, load_policy
from custodes.services.requests.rereview import check_release_pack
from custodes.services.state import vouch_decision, vouch_derivative
from custodes.services.usecase import UseCase, acting
from custodes.storage.uow import UnitOfWork


@dataclass(frozen=True)
class Released:
    release_id: str
    files: list[str]
    """The copies made, by path."""
    letter: str
    """The letter (PDF)."""
    manifest: str


@dataclass(frozen=True)
class ReleasedFile:
    """One copy of a release, as its manifest lists it."""

    path: str
    sha256: str
    export_id: str
    evidence_id: str
    source_sha256: str
    start_s: float
    end_s: float
    redactions: JSONObject | None
    """What was applied to this copy (None: nothing): the accepted redaction it comes
    from (id, hash, who made it), the kinds a person accepted it as covering and who
    accepted it when, and what it hides within this portion."""
    reviewed_redaction: str | None
    """The accepted redaction this copy was made from."""


@dataclass
class _Plan:
    """What a release will make, checked before any of it is made."""

    request: Request
    case: Case
    decision: RecordedDecision
    evidence: dict[str, Evidence]
    spans: dict[str, list[TimeSpan]]
    """The portions of each recording to release (none: it lies outside them)."""
    redaction_kinds: set[str]
    cuts: list[coverage.Span]
    """The decision's cut ranges, left out of every copy."""
    reviewed: dict[str, tuple[Derivative, AcceptedRedaction]]
    """The accepted redactions to release, by evidence id."""
    paths: dict[str, Path] = field(default_factory=dict)
    """Originals and reviewed redactions, checked and on local disk, by id."""
    credential: SigningCredential | None = None
    created: bool = False
    """The package folder was made by this release (else it was empty)."""


def release_request(
    vault: Context,
    actor_name: str | None,
    request_id: str,
    out_dir: Path,
    *,
    redactions: Sequence[str] = (),
) -> Released:
    """Make the package the recorded decision allows in ``out_dir`` (new, or empty).

    ``redactions`` names stored redactions (made by a redaction, reviewed on their
    contact sheet and accepted by a person) to use for their evidence; evidence without
    one given is released from its latest accepted redaction that covers what the
    decision requires, or, where the decision requires none, from the original.
    Progress is reported to the context's sink, in frames.
    """
    out_dir = out_dir.absolute()  # every path in the result is absolute (the manifest's
    # are relative to the package)
    held = contextlib.ExitStack()  # the originals, materialised until the package is made
    with acting(vault, actor_name) as uc:
        plan = _plan(uc, request_id, out_dir, redactions, held)
    try:
        task = vault.progress.start("release", None, unit="frame")
        files = _make_copies(vault, actor_name, plan, out_dir, task)
        letter = write_letter(
            vault, actor_name, request_id, out_dir, redactions=_letter_lines(plan, files)
        )
        assert plan.credential is not None
        manifest: JSONObject = {
            "format": "custodes-release/v1",
            "request_id": request_id,
            "decision_id": plan.decision.id,
            "outcome": plan.decision.outcome,
            "pack": plan.decision.pack_name,
            "pack_sha256": plan.decision.pack_sha256,
            "requester": plan.request.requester,
            # Paths relative to the package, not to the custodian's machine.
            "files": [
                {**cast(JSONObject, jsonable(f)), "path": _in_package(out_dir, f.path)}
                for f in files
            ],
            "cut": [list(c) for c in plan.cuts],
            "letter": {
                "html": _in_package(out_dir, letter.html),
                "pdf": _in_package(out_dir, letter.pdf),
            },
            # No trust root in the package: a root shipped beside the copies would vouch
            # for whoever made the package. Readers check the copies against the root the
            # department publishes (docs/disclosure.md, "Content Credentials").
            "content_credentials": {
                "signer": plan.credential.subject,
                "cert_sha256": plan.credential.cert_sha256,
                "origin": plan.credential.origin,
                "trust_root": "published by the department, not included in this package",
            },
        }
        manifest_path = out_dir / "manifest.json"
        manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
        release_id = _record_release(vault, actor_name, plan, files, manifest, manifest_path)
    except BaseException:
        _discard_package(out_dir, plan.created)
        raise
    finally:
        held.close()
    return Released(
        release_id=release_id,
        files=[f.path for f in files],
        letter=letter.pdf,
        manifest=str(manifest_path),
    )


def _in_package(out_dir: Path, path: str) -> str:
    """``path`` (in the package folder ``out_dir``) relative to the package, with '/'."""
    return Path(path).resolve().relative_to(out_dir.resolve()).as_posix()


def _plan(
    uc: UseCase,
    request_id: str,
    out_dir: Path,
    redactions: Sequence[str],
    held: contextlib.ExitStack[bool | None],
) -> _Plan:
    """Check that the release may be made, and what it will make; any refusal is put
    on record (RELEASE_REFUSED). The originals are checked and held in ``held``."""
    attempted = Permission.REQUEST_RELEASE.value
    request, case = uc.request(
        request_id, attempted=Permission.REQUEST_RELEASE, action=Action.RELEASE_REFUSED
    )
    uc.allow(Permission.REQUEST_RELEASE, case=case, refusal_action=Action.RELEASE_REFUSED)
    try:
        decision, release = _releasable_decision(uc.uow, request_id)
        check_release_pack(decision, load_policy(uc.ctx, uc.uow))
        _check_package_folder(out_dir)
        plan = _what_to_release(uc.uow, request, case, decision, release, redactions)
        for ev_id, ev in plan.evidence.items():
            plan.paths[ev_id] = held.enter_context(verified_original(uc.ctx, ev_id, ev.sha256))
        for d, _ in plan.reviewed.values():
            plan.paths[d.id] = held.enter_context(
                verified_original(uc.ctx, d.id, d.sha256, "redacted copy")
            )
        plan.credential = uc.ctx.content_credential()
        plan.created = not out_dir.exists()
        if plan.created:
            try:
                out_dir.mkdir()
            except OSError as exc:
                raise InvalidInput(f"cannot create {out_dir}: {exc.strerror}") from exc
    except CustodesError as exc:
        held.close()
        uc.refuse(exc, attempted=attempted, case=case.number, action=Action.RELEASE_REFUSED)
    return plan


def _releasable_decision(uow: UnitOfWork, request_id: str) -> tuple[RecordedDecision, JSONObject]:
    """The recorded decision on the request, which must release something, and what it
    releases (its release section)."""
    last = uow.decisions.latest(request_id)
    if last is None:
        raise CustodyConflict(f"request {request_id} has no recorded decision")
    vouch_decision(uow, last, latest=True)
    if last.outcome not in ("release", "partial"):
        raise CustodyConflict(
            f"the recorded decision on {request_id} is '{last.outcome}': nothing may be released"
        )
    release = last.document.get("release")
    if not isinstance(release, dict) or not release:
        # Overrides recorded before they were built by the engine carry no release
        # section; reading that as "everything" released whole recordings.
        raise CustodyConflict(
            f"the recorded decision {last.id} does not say what it releases; "
            f"record the decision on {request_id} again"
        )
    return last, release


def _check_package_folder(out_dir: Path) -> None:
    if out_dir.exists():
        if not out_dir.is_dir():
            raise InvalidInput(f"{out_dir} is not a folder", field="out")
        if any(out_dir.iterdir()):
            raise CustodyConflict(f"{out_dir} is not empty; a release goes in a new folder")
    elif not out_dir.parent.is_dir():
        raise InvalidInput(f"no such folder: {out_dir.parent}", field="out")


def _what_to_release(
    uow: UnitOfWork,
    request: Request,
    case: Case,
    decision: RecordedDecision,
    release: JSONObject,
    redactions: Sequence[str],
) -> _Plan:
    ids = release.get("evidence")
    chosen = (
        asked_evidence(uow, request)
        if ids in (None, "all") or not isinstance(ids, list)
        else [str(i) for i in ids]
    )
    evidence = {i: uow.evidence.get(i) for i in chosen}
    listed = decision.document.get("redactions")
    ordered = [r for r in listed if isinstance(r, dict)] if isinstance(listed, list) else []
    kinds = {str(r.get("kind")) for r in ordered if r.get("kind")}
    cuts = coverage.merged(
        c for r in ordered if r.get("kind") == "cut" for c in coverage.spans_of(r.get("ranges"))
    )
    ranges = release.get("ranges")
    spans: dict[str, list[TimeSpan]] = {}
    for ev_id, ev in evidence.items():
        duration = float(ev.media.duration_s)
        cut = (
            [
                (max(0.0, float(a)), min(duration, float(b)))
                for a, b in cast(list[list[float]], ranges)
            ]
            if isinstance(ranges, list)
            else [(0.0, duration)]
        )
        spans[ev_id] = [(a, b) for a, b in coverage.subtract(cut, cuts) if b > a]
    if not any(spans.values()):
        raise CustodyConflict(
            f"nothing to release: the portions the decision on {request.id} allows "
            "lie outside its recordings"
        )
    audio = [r for r in ordered if r.get("kind") == "audio"]
    muted: list[coverage.Span] | None = (
        None
        if any(r.get("ranges") in (None, "all") for r in audio)
        else coverage.merged(c for r in audio for c in coverage.spans_of(r.get("ranges")))
    )
    given = _given_redactions(uow, redactions, list(evidence))
    needed = kinds - coverage.RELEASE_KINDS
    reviewed: dict[str, tuple[Derivative, AcceptedRedaction]] = {}
    for ev_id in evidence:
        if not spans[ev_id] or not (needed or ev_id in given):
            continue
        # The audio the decision silences, where this recording is released.
        to_mute = [
            s
            for a, b in spans[ev_id]
            for s in coverage.clip([(a, b)] if muted is None else muted, a, b)
        ]
        reviewed[ev_id] = _accepted_for(
            uow, ev_id, given.get(ev_id), needed, to_mute if audio else []
        )
    return _Plan(request, case, decision, evidence, spans, kinds, cuts, reviewed)


def _given_redactions(
    uow: UnitOfWork, ids: Sequence[str], evidence_ids: Sequence[str]
) -> dict[str, Derivative]:
    """The stored redactions named for the release, by evidence id, checked."""
    chosen: dict[str, Derivative] = {}
    for rid in ids:
        d = uow.derivatives.find(rid)
        if d is None or d.kind != "redaction":
            raise NotFound(f"no such redaction: {rid}")
        vouch_derivative(uow, d)
        if d.evidence_id not in evidence_ids:
            raise InvalidInput(
                f"redaction {rid} is of {d.evidence_id}, which this release does not include"
            )
        if d.evidence_id in chosen:
            raise InvalidInput(f"two redactions given for {d.evidence_id}")
        chosen[d.evidence_id] = d
    return chosen


def _lacks(signed: AcceptedRedaction, needed: set[str], audio: list[coverage.Span]) -> list[str]:
    """What an accepted redaction lacks of what the release needs, in words."""
    lacks = sorted(needed - signed.covers)
    if "audio" in needed and "audio" not in lacks:
        audio_done = signed.applied.get("audio")
        muted = coverage.spans_of(
            audio_done.get("ranges") if isinstance(audio_done, dict) else None
        )
        gaps = coverage.uncovered(audio, muted)
        if gaps:
            lacks.append(
                "audio over " + ", ".join(f"{a:g}-{b:g} s" for a, b in gaps) + " (not muted)"
            )
    return lacks


def _accepted_for(
    uow: UnitOfWork,
    evidence_id: str,
    given: Derivative | None,
    needed: set[str],
    audio: list[coverage.Span],
) -> tuple[Derivative, AcceptedRedaction]:
    """The accepted redaction to release ``evidence_id`` from: the one given, or the
    latest accepted one that covers every kind ``needed`` (and the ``audio`` ranges to
    mute); refused (CustodyConflict) when there is none."""
    kinds = ", ".join(sorted(needed)) or "nothing"
    if given is not None:
        signed = signed_redaction(uow, given)
        if not signed.acceptances:
            raise CustodyConflict(
                f"redaction {given.id} of {evidence_id} was not reviewed and accepted by a "
                "person; nothing unreviewed is released"
            )
        lacks = _lacks(signed, needed, audio)
        if lacks:
            raise CustodyConflict(
                f"redaction {given.id} is not accepted as covering {', '.join(lacks)}, which "
                f"the decision requires of {evidence_id}"
            )
        return given, signed
    candidates = accepted_redactions(uow, evidence_id)
    for signed in candidates:
        if _lacks(signed, needed, audio):
            continue
        row = uow.derivatives.find(signed.derivative_id)
        if row is None:
            raise IntegrityFailure(
                f"redaction {signed.derivative_id} is on the signed log but not in the "
                "vault's tables",
                advice="verify the vault and restore the database from a backup",
            )
        signed_redaction(uow, row)  # the row is the one the log vouches for
        return row, signed
    latest = (
        f"; the latest accepted one, {candidates[0].derivative_id}, lacks "
        + ", ".join(_lacks(candidates[0], needed, audio))
        if candidates
        else ""
    )
    raise CustodyConflict(
        f"{evidence_id} has no redaction a person accepted as covering {kinds}, which the "
        f"decision requires{latest}; nothing unreviewed is released",
        advice="redact the recording, review the copy, and accept it as covering those kinds",
    )


def _make_copies(
    vault: Context, actor_name: str | None, plan: _Plan, out_dir: Path, task: ProgressTask
) -> list[ReleasedFile]:
    """The copies of the release: for each recording, from its accepted redaction (or
    the original, where the decision requires none), one export per portion. Their
    manifest entries."""
    from custodes.services import exports

    request, decision = plan.request, plan.decision
    files: list[ReleasedFile] = []
    for ev_id, ev in plan.evidence.items():
        fps = float(ev.media.fps or 30)
        for i, (a, b) in enumerate(plan.spans[ev_id]):
            derived: tuple[Path, list[JSONObject]] | None = None
            stated: JSONObject | None = None
            facts: JSONObject = {}
            if ev_id in plan.reviewed:
                d, signed = plan.reviewed[ev_id]
                portion = coverage.within(signed.applied, a, b, fps)
                derived = (plan.paths[d.id], _portion_ops(d, portion))
                stated = _stated(d, signed, portion)
                facts = {
                    "redaction": {
                        "derivative_id": d.id,
                        "derivative_sha256": d.sha256,
                        "covers": list[JSONValue](sorted(signed.covers)),
                        "accepted": [{"by": x.by, "at": x.at} for x in signed.acceptances],
                    }
                }
            cmd = exports.ExportEvidence(
                ev_id,
                recipient=request.requester,
                purpose=f"release {request.id} (decision {decision.id})",
                start=a,
                end=b,
                out=out_dir / f"{ev_id}-part{i + 1}.mp4",
                derived_from=derived,
                # Press and public copies may be published: no burned-in name.
                visible_mark=request.kind not in ("press", "public"),
                content_credentials={
                    "release_request": request.id,
                    "decision": decision.id,
                    "outcome": decision.outcome,
                    "pack_sha256": decision.pack_sha256,
                    **facts,
                },
            )
            out = exports.export_evidence(vault, actor_name, cmd)
            files.append(
                ReleasedFile(
                    path=out.path,
                    sha256=out.sha256,
                    export_id=out.export_id,
                    evidence_id=ev_id,
                    source_sha256=ev.sha256,
                    start_s=a,
                    end_s=out.end_s,
                    redactions=stated,
                    reviewed_redaction=(
                        plan.reviewed[ev_id][0].id if ev_id in plan.reviewed else None
                    ),
                )
            )
    return files


def _portion_ops(d: Derivative, portion: JSONObject) -> list[JSONObject]:
    """The redaction's operations as they apply to one portion: what the redact
    operation hides there, and the audio ranges muted there."""
    ops: list[JSONObject] = []
    for o in d.operations:
        op: JSONObject = {**o, "derivative_id": d.id, "derivative_sha256": d.sha256}
        if o.get("op") == "redact":
            op["applied"] = {k: v for k, v in portion.items() if k != "audio"}
        elif o.get("op") == "audio":
            done = portion.get("audio")
            op["ranges"] = done.get("ranges", []) if isinstance(done, dict) else []
        ops.append(op)
    return ops


def _style(d: Derivative) -> str:
    redact = [o for o in d.operations if o.get("op") == "redact"]
    return "boxed" if redact and redact[0].get("style") == "box" else "blurred"


def _stated(d: Derivative, signed: AcceptedRedaction, portion: JSONObject) -> JSONObject:
    """A copy's ``redactions`` in the manifest: what was applied, with its lineage."""
    return {
        "derivative_id": d.id,
        "derivative_sha256": d.sha256,
        "made_by": signed.made_by,
        "made_at": signed.made_at,
        "covers": list[JSONValue](sorted(signed.covers)),
        "accepted": [
            {"by": x.by, "at": x.at, "covers": list[JSONValue](x.covers), "audit_seq": x.audit_seq}
            for x in signed.acceptances
        ],
        "applied": portion,
        "described": list[JSONValue](coverage.describe(portion, _style(d))),
    }


def _letter_lines(plan: _Plan, files: list[ReleasedFile]) -> list[str]:
    """The letter's "what is redacted": what was applied to each copy, nothing else."""
    listed = plan.decision.document.get("redactions")
    rules: dict[str, list[str]] = {}
    for r in listed if isinstance(listed, list) else []:
        ids = r.get("rules") if isinstance(r, dict) else None
        if isinstance(r, dict):
            rules[str(r.get("kind"))] = [str(x) for x in ids] if isinstance(ids, list) else []
    lines: list[str] = []
    for f in files:
        where = f"{f.evidence_id}, {f.start_s:g} s to {f.end_s:g} s"
        if f.redactions is None:
            continue
        described = f.redactions.get("described")
        done = [str(x) for x in described] if isinstance(described, list) else []
        accepted = f.redactions.get("accepted")
        last = accepted[-1] if isinstance(accepted, list) and accepted else {}
        who = (
            f"; reviewed and accepted by {last.get('by')} on {str(last.get('at'))[:10]}"
            if isinstance(last, dict) and last
            else ""
        )
        covers = f.redactions.get("covers")
        why = [
            f"{k} ({', '.join(rules[str(k)])})" if rules[str(k)] else str(k)
            for k in (covers if isinstance(covers, list) else [])
            if str(k) in rules
        ]
        lines.append(
            f"{where}: {'; '.join(done) if done else 'nothing needed hiding in this portion'}"
            f"{who}" + (f"; the decision requires {', '.join(why)}" if why else "")
        )
    for a, b in plan.cuts:
        lines.append(f"the portion from {a:g} s to {b:g} s is cut from every recording")
    return lines


def _record_release(
    vault: Context,
    actor_name: str | None,
    plan: _Plan,
    files: list[ReleasedFile],
    manifest: JSONObject,
    manifest_path: Path,
) -> str:
    release_id = new_id("RL")
    with acting(vault, actor_name) as uc:
        seq = uc.record(
            Action.RELEASE,
            object_type="release",
            object_id=release_id,
            case=plan.case,
            details={
                "request": plan.request.id,
                "decision": plan.decision.id,
                "files": [
                    {
                        "export_id": f.export_id,
                        "sha256": f.sha256,
                        # The accepted redaction it was made from (None: the original).
                        "redaction": f.reviewed_redaction,
                    }
                    for f in files
                ],
                "manifest_sha256": hashlib.sha256(manifest_path.read_bytes()).hexdigest(),
                "manifest_doc_sha256": document_digest(manifest),
            },
        )
        uc.uow.releases.add(
            release_id,
            plan.request.id,
            plan.decision.id,
            created_at=now_iso(vault),
            actor=uc.actor.username,
            manifest=manifest,
            audit_seq=seq,
        )
        uc.commit()
    return release_id


def _discard_package(out_dir: Path, created: bool) -> None:
    """Leave no half-made package: the folder was new, or empty, before the release."""
    if created:
        shutil.rmtree(out_dir, ignore_errors=True)
        return
    for child in out_dir.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
