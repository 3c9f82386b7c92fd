"""Releases: the package a recorded decision allows, made for the requester.

Redacted, watermarked copies of the allowed portions (exports to the requester, each
with signed Content Credentials), a manifest and the letter. A failed release leaves
nothing in its folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from custodes.core.authz import Permission
from custodes.core.custody import Action
from custodes.core.errors import CustodesError, CustodyConflict, InvalidInput, NotFound
from custodes.core.jsontext import JSONObject, jsonable
from custodes.core.ports import ProgressTask, SigningCredential
from custodes.core.records import Case, Derivative, Evidence, RecordedDecision, Request, TimeSpan
from custodes.services.common import new_id, now_iso, verified_original
from custodes.services.context import Context
from custodes.services.requests.decisions import write_letter
from custodes.services.requests.facts import asked_evidence, load_policy
from custodes.services.requests.rereview import check_release_pack
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
    redactions: list[str]
    """The kinds of redaction the decision requires."""
    reviewed_redaction: str | None
    """The stored redaction released instead of redacting anew."""


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
    audio: list[JSONObject]
    """The decision's audio redactions."""
    reviewed: dict[str, Derivative]
    """Stored redactions to release instead of redacting anew, by evidence id."""
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

    ``redactions`` names stored redaction derivatives (made by a redaction, reviewed on
    their contact sheet and corrected through their sidecar) to use for their evidence;
    evidence without one is redacted anew as the decision requires. Progress is reported
    to the context's sink, in frames redacted.
    """
    out_dir = out_dir.absolute()  # every path in the result and manifest is absolute
    held = contextlib.ExitStack()  # the originals, materialised until the package is made
    with acting(vault, actor_name) as uc:
        plan = _plan(uc, request_id, out_dir, redactions, held)
    try:
        task = vault.progress.start("release", None, unit="frame")
        files = _make_copies(vault, actor_name, plan, out_dir, task)
        letter = write_letter(vault, actor_name, request_id, out_dir)
        assert plan.credential is not None
        manifest: JSONObject = {
            "format": "custodes-release/v1",
            "request_id": request_id,
            "decision_id": plan.decision.id,
            "outcome": plan.decision.outcome,
            "pack": plan.decision.pack_name,
            "pack_sha256": plan.decision.pack_sha256,
            "requester": plan.request.requester,
            "files": jsonable(files),
            "letter": {"html": letter.html, "pdf": letter.pdf},
            "content_credentials": {
                "signer": plan.credential.subject,
                "cert_sha256": plan.credential.cert_sha256,
                "origin": plan.credential.origin,
            },
        }
        # The root the copies' Content Credentials chain to, for the requester's convenience;
        # a newsroom should check it against the one the department publishes.
        (out_dir / "content-credentials-root.pem").write_bytes(plan.credential.anchors_pem)
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
    request = uc.uow.requests.find(request_id)
    if request is None:
        uc.refuse(
            NotFound(f"no request '{request_id}'"),
            attempted=attempted,
            action=Action.RELEASE_REFUSED,
        )
    case = uc.uow.cases.by_id(request.case_id)
    uc.allow(Permission.REQUEST_RELEASE, case=case, refusal_action=Action.RELEASE_REFUSED)
    try:
        decision, release = _releasable_decision(uc.uow, request_id)
        check_release_pack(decision, load_policy(uc.ctx, uc.uow))
        _check_package_folder(out_dir)
        plan = _what_to_release(uc.uow, request, case, decision, release, redactions)
        for ev_id, ev in plan.evidence.items():
            plan.paths[ev_id] = held.enter_context(verified_original(uc.ctx, ev_id, ev.sha256))
        for d in plan.reviewed.values():
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
    from custodes.services.redaction import FACE_KINDS

    ids = release.get("evidence")
    chosen = (
        asked_evidence(uow, request)
        if ids in (None, "all") or not isinstance(ids, list)
        else [str(i) for i in ids]
    )
    evidence = {i: uow.evidence.get(i) for i in chosen}
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
        spans[ev_id] = [(a, b) for a, b in cut if b > a]
    if not any(spans.values()):
        raise CustodyConflict(
            f"nothing to release: the portions the decision on {request.id} allows "
            "lie outside its recordings"
        )
    listed = decision.document.get("redactions")
    ordered = [r for r in listed if isinstance(r, dict)] if isinstance(listed, list) else []
    kinds = {str(r.get("kind")) for r in ordered if r.get("kind")}
    audio = [r for r in ordered if r.get("kind") == "audio"]
    reviewed = _reviewed_derivatives(
        uow, redactions, list(evidence), bool(kinds & FACE_KINDS), bool(audio)
    )
    return _Plan(request, case, decision, evidence, spans, kinds, audio, reviewed)


def _reviewed_derivatives(
    uow: UnitOfWork,
    ids: Sequence[str],
    evidence_ids: Sequence[str],
    needs_faces: bool,
    needs_audio: bool,
) -> dict[str, Derivative]:
    """The stored redactions a release is to use instead of redacting anew, checked."""
    chosen: dict[str, Derivative] = {}
    for rid in ids:
        d = uow.derivatives.find(rid)
        if d is None or d.kind != "redaction":
            raise NotFound(f"no such redaction: {rid}")
        if d.evidence_id not in evidence_ids:
            raise InvalidInput(
                f"redaction {rid} is of {d.evidence_id}, which this release does not include"
            )
        if d.evidence_id in chosen:
            raise InvalidInput(f"two redactions given for {d.evidence_id}")
        ops = d.operations
        if needs_faces and not any(o.get("op") == "redact" and o.get("faces") for o in ops):
            raise CustodyConflict(
                f"redaction {rid} does not cover faces, which the decision requires"
            )
        if needs_audio and not any(o.get("op") == "audio" for o in ops):
            raise CustodyConflict(
                f"redaction {rid} does not silence audio, which the decision requires"
            )
        chosen[d.evidence_id] = d
    return chosen


def _make_copies(
    vault: Context, actor_name: str | None, plan: _Plan, out_dir: Path, task: ProgressTask
) -> list[ReleasedFile]:
    """The copies of the release: for each recording, redacted as the decision requires
    (or from its reviewed redaction), one export per portion. Their manifest entries."""
    from custodes.services import exports
    from custodes.services.redaction import FACE_KINDS, _Redaction, _render_redaction

    request, decision = plan.request, plan.decision
    faces = bool(plan.redaction_kinds & FACE_KINDS)
    files: list[ReleasedFile] = []
    for ev_id, ev in plan.evidence.items():
        if not plan.spans[ev_id]:
            continue  # the portions asked for lie past the end of this recording
        duration = float(ev.media.duration_s)
        with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
            derived: tuple[Path, list[JSONObject]] | None = None
            if ev_id in plan.reviewed:
                d = plan.reviewed[ev_id]
                ops = [
                    {**o, "derivative_id": d.id, "derivative_sha256": d.sha256}
                    for o in d.operations
                ]
                derived = (plan.paths[d.id], ops)
            elif faces or plan.audio:
                whole = any(r.get("ranges") in (None, "all") for r in plan.audio)
                spec = _Redaction(
                    plan=None,
                    faces=faces,
                    seeds=(),
                    mute=((0.0, duration),) if whole else (),
                    bleep=False,
                    style="blur",
                    face_model="centerface",
                )
                red = _render_redaction(
                    vault,
                    ev,
                    plan.paths[ev_id],
                    Path(tmp) / f"{ev_id}.mp4",
                    spec,
                    task,
                    store=False,
                )
                derived = (Path(tmp) / f"{ev_id}.mp4", red.operations)
            for i, (a, b) in enumerate(plan.spans[ev_id]):
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
                        redactions=sorted(plan.redaction_kinds),
                        reviewed_redaction=(
                            plan.reviewed[ev_id].id if ev_id in plan.reviewed else None
                        ),
                    )
                )
    return files


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
                "files": [{"export_id": f.export_id, "sha256": f.sha256} for f in files],
                "manifest_sha256": hashlib.sha256(manifest_path.read_bytes()).hexdigest(),
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
