"""Redacted derivatives of evidence, and releases made from a recorded decision.

A redaction never touches the original: it renders a new file (faces blurred and
tracked, drawn regions tracked, audio muted or bleeped over ranges) that keeps the
original's timeline, stores it as a blob, and records its lineage: the detector and its
version, thresholds, and the boxes per frame as a sidecar a reviewer can load, correct
and pass back (``RedactEvidence.sidecar``).

``redact_evidence`` runs in three steps: check everything it can before any work, on
record when refused (:func:`prepare`); render, with no transaction open
(:func:`_render_redaction`); record the derivative (:func:`_record_redaction`).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, NoReturn

from custodes.core import redactions
from custodes.core.authz import AlertKind, Decision, Permission
from custodes.core.custody import Action
from custodes.core.errors import CustodesError, CustodyConflict, InvalidInput
from custodes.core.jsontext import JSONObject
from custodes.core.ledger import document_digest
from custodes.core.ports import ProgressTask
from custodes.core.records import Case, Derivative, Evidence, JobStatus
from custodes.media.faces import face_model_name
from custodes.media.redaction import (
    Detector,
    RedactionPlan,
    RegionSeed,
    apply_redaction,
    contact_sheet,
    plan_redaction,
)
from custodes.services.common import (
    check_writable_folder,
    new_id,
    now_iso,
    verified_original,
)
from custodes.services.context import Context
from custodes.services.evidence import alert_if_flagged, alert_note
from custodes.services.exports import check_text
from custodes.services.requests.facts import check_ranges_within
from custodes.services.usecase import UseCase, acting

FACE_KINDS = redactions.FACE_KINDS
STYLES = ("blur", "box")
Style = Literal["blur", "box"]
MAX_LABEL = 64
"""A drawn region's label is kept to this many characters."""


@dataclass(frozen=True)
class RedactEvidence:
    """Make a redacted copy of one recording at ``out`` (an ``.mp4`` that does not exist).

    What to hide: every face (``faces``, found by ``face_model``), ``regions`` drawn on a
    frame (followed from there), or a reviewed ``sidecar`` (a boxes file an earlier
    redaction wrote, corrected) applied as given; audio is silenced over the ``mute``
    ranges (seconds), or with ``bleep`` a tone. ``reason`` is required on flagged cases.
    """

    evidence_id: str
    out: Path
    faces: bool = False
    regions: Sequence[RegionSeed] = ()
    mute: Sequence[tuple[float, float]] = ()
    bleep: bool = False
    style: str = "blur"
    sidecar: Path | None = None
    face_model: str = "centerface"
    reason: str | None = None
    derivative_id: str | None = None
    """The derivative's id when it was allocated beforehand (a job's, fixed when it was
    requested, so that a retried job makes the same derivative); None: a new one."""
    job_id: str | None = None
    """The job this redaction finishes: its row is marked done in the redaction's own
    transaction, and the redact event names it (``job``, ``job_result_sha256``)."""


@dataclass(frozen=True)
class Redacted:
    """A redacted derivative on record; its copy, sidecar and contact sheet are at the
    paths given."""

    derivative_id: str
    alerted: list[str]
    """The audiences alerted (internal affairs, when the case is flagged)."""
    path: Path
    frames_redacted: int
    sha256: str
    sidecar: Path
    contact_sheet: Path


@dataclass(frozen=True)
class Rendered:
    """What a render made: the copy (hashed), its sidecar and contact sheet, and the
    operations of its lineage."""

    sha256: str
    frames_redacted: int
    sidecar: Path
    sidecar_sha256: str
    contact_sheet: Path
    operations: list[JSONObject]
    applied: JSONObject
    """What the copy hides (:mod:`custodes.core.redactions`): faces, drawn regions by
    label, with their boxes, frames and spans; the audio muted or bleeped."""

    def lineage(self, evidence: Evidence) -> JSONObject:
        return {
            "source": {"evidence_id": evidence.id, "sha256": evidence.sha256},
            "operations": list(self.operations),
            "frames_redacted": self.frames_redacted,
        }


@dataclass(frozen=True)
class _Redaction:
    """What a render hides and how: a reviewed plan, or what to find; audio ranges."""

    plan: RedactionPlan | None
    faces: bool
    seeds: tuple[RegionSeed, ...]
    mute: tuple[tuple[float, float], ...]
    bleep: bool
    style: Style
    face_model: str


@dataclass(frozen=True)
class _Prepared:
    """A redaction checked and allowed, ready to render."""

    evidence: Evidence
    case: Case
    decision: Decision
    reason: str | None
    spec: _Redaction
    dest: Path


def redact_evidence(ctx: Context, actor_name: str | None, cmd: RedactEvidence) -> Redacted:
    """Render and record a redacted derivative of one recording.

    Redacting shows the footage as exporting does: on a flagged case (sensitive,
    juvenile, victim-privacy) it needs a stated ``reason`` and alerts internal affairs.
    Every refusal, found before the render or by it, is on record.
    """
    with contextlib.ExitStack() as held:  # the original, materialised until it is redacted
        with acting(ctx, actor_name) as uc:
            job = prepare(uc, cmd)
            try:
                source = held.enter_context(
                    verified_original(ctx, job.evidence.id, job.evidence.sha256)
                )
            except CustodesError as exc:
                _refuse(uc, exc, job.evidence, job.reason)
        frames = job.evidence.media.frame_count or round(
            job.evidence.media.duration_s * (job.evidence.media.fps or 30)
        )
        # Planning decodes every frame once, and rendering once more.
        passes = 1 if job.spec.plan is not None else 2
        task = ctx.progress.start("redact", frames * passes, unit="frame")
        try:
            rendered = _render_redaction(ctx, job.evidence, source, job.dest, job.spec, task)
        except CustodesError as exc:
            # What only the render finds (a region the tracker cannot place, a sidecar in
            # the way) is refused on record like what is found before it.
            with acting(ctx, actor_name) as uc:
                _refuse(uc, exc, job.evidence, job.reason)
    derivative_id = cmd.derivative_id or new_id("RD")
    with acting(ctx, actor_name) as uc:
        alerted = _record_redaction(uc, job, rendered, derivative_id, cmd.job_id)
    return Redacted(
        derivative_id=derivative_id,
        alerted=alerted,
        path=job.dest,
        frames_redacted=rendered.frames_redacted,
        sha256=rendered.sha256,
        sidecar=rendered.sidecar,
        contact_sheet=rendered.contact_sheet,
    )


def redacted_result(redacted: Redacted) -> JSONObject:
    """A redaction job's result (its digest is bound by the redact event)."""
    return {
        "derivative_id": redacted.derivative_id,
        "path": str(redacted.path),
        "sha256": redacted.sha256,
        "frames_redacted": redacted.frames_redacted,
        "sidecar": str(redacted.sidecar),
        "contact_sheet": str(redacted.contact_sheet),
    }


def _refuse(uc: UseCase, error: CustodesError, evidence: Evidence, reason: str | None) -> NoReturn:
    uc.refuse(
        error,
        attempted=Permission.EVIDENCE_REDACT.value,
        case=evidence.case_number,
        evidence=evidence.id,
        reason=reason,
    )


def prepare(uc: UseCase, cmd: RedactEvidence) -> _Prepared:
    """The evidence, allowed to be redacted by the actor, and what to redact and where,
    checked; a refusal is on record."""
    permission = Permission.EVIDENCE_REDACT
    try:
        reason = None if cmd.reason is None else check_text(cmd.reason, "reason", 2000)
    except CustodesError as exc:
        uc.refuse(exc, attempted=permission.value, evidence=cmd.evidence_id)
    ev, case, decision = uc.evidence_decided(cmd.evidence_id, permission, reason=reason)
    try:
        spec = _checked_redaction(cmd, ev)
        dest = _checked_destination(cmd.out)
    except CustodesError as exc:
        _refuse(uc, exc, ev, reason)
    return _Prepared(ev, case, decision, reason, spec, dest)


def _checked_redaction(cmd: RedactEvidence, ev: Evidence) -> _Redaction:
    if cmd.style not in STYLES:
        raise InvalidInput(f"unknown style '{cmd.style}' (blur or box)", field="style")
    style: Style = "box" if cmd.style == "box" else "blur"
    face_model = face_model_name(cmd.face_model)
    seeds = tuple(check_region(seed, ev) for seed in cmd.regions)
    mute = check_mute(cmd.mute, ev)
    plan = None if cmd.sidecar is None else _reviewed_plan(cmd.sidecar, ev)
    if plan is None and not (cmd.faces or seeds or mute):
        raise InvalidInput(
            "nothing to redact: give {faces}, {regions}, {mute} or {sidecar}",
            fields=("faces", "regions", "mute", "sidecar"),
        )
    return _Redaction(plan, cmd.faces, seeds, mute, cmd.bleep, style, face_model)


def region_text(seed: RegionSeed) -> str:
    """A region as people write it: time, then box (and its label, if it has one)."""
    box = f"{seed.t_s:g}:{seed.x:g},{seed.y:g},{seed.w:g},{seed.h:g}"
    return box if seed.label == "region" else f"{box}:{seed.label}"


def check_region(seed: RegionSeed, ev: Evidence) -> RegionSeed:
    """``seed``, its label cut to ``MAX_LABEL`` characters; a region that is not a box on
    the recording (outside the frame, after its end, not finite) is refused."""
    text = region_text(seed)
    if not all(math.isfinite(v) for v in (seed.t_s, seed.x, seed.y, seed.w, seed.h)):
        raise InvalidInput(f"region {text}: time and box must be finite numbers", field="regions")
    if seed.w <= 0 or seed.h <= 0 or seed.t_s < 0:
        raise InvalidInput(
            f"region {text}: width, height must be > 0 and time >= 0", field="regions"
        )
    if not seed.label.isprintable():
        raise InvalidInput(f"region {text}: the label must be printable text", field="regions")
    width, height = ev.media.width, ev.media.height
    # Half a pixel of slack past the edge, as the planner allows.
    if seed.x < 0 or seed.y < 0 or seed.x + seed.w > width + 0.5 or seed.y + seed.h > height + 0.5:
        raise InvalidInput(
            f"region {text} lies outside the {width}x{height} frame of {ev.id}", field="regions"
        )
    if seed.t_s >= ev.media.duration_s:
        raise InvalidInput(
            f"region {text} is drawn at {seed.t_s:g} s, after the end of {ev.id} "
            f"({ev.media.duration_s:.2f} s)",
            field="regions",
        )
    return replace(seed, label=seed.label[:MAX_LABEL])


def check_mute(
    ranges: Sequence[tuple[float, float]], ev: Evidence
) -> tuple[tuple[float, float], ...]:
    """Ranges of seconds to silence, each within the recording."""
    out = []
    for a, b in ranges:
        if not (math.isfinite(a) and math.isfinite(b)):
            raise InvalidInput(
                f"range {a:g}-{b:g}: start and end must be finite numbers", field="mute"
            )
        if not (0 <= a < b):
            raise InvalidInput(
                f"range {a:g}-{b:g}: start must be >= 0 and before the end", field="mute"
            )
        out.append((float(a), float(b)))
    check_ranges_within(out, {ev.id: ev.media.duration_s}, "mute")
    return tuple(out)


def _reviewed_plan(sidecar: Path, ev: Evidence) -> RedactionPlan:
    """A reviewer's boxes file, which must have been made for this very recording."""
    try:
        plan = RedactionPlan.from_json(sidecar.read_bytes())
    except OSError as exc:
        raise InvalidInput(f"cannot read {sidecar}: {exc.strerror}", field="sidecar") from exc
    if plan.source_sha256 is None:
        raise InvalidInput(
            f"{sidecar.name} names no source recording (sha256); "
            "sidecars are made by a redaction of one recording",
            field="sidecar",
        )
    if plan.source_sha256 != ev.sha256:
        raise InvalidInput(f"{sidecar.name} was made for another recording", field="sidecar")
    size = (ev.media.width, ev.media.height)
    if (plan.width, plan.height) != size:
        raise InvalidInput(
            f"{sidecar.name} is for {plan.width}x{plan.height} frames; "
            f"{ev.id} is {size[0]}x{size[1]}",
            field="sidecar",
        )
    return plan


def _checked_destination(out: Path) -> Path:
    """Where the copy goes: a new ``.mp4`` in a folder that takes new files."""
    if out.is_symlink():
        raise CustodyConflict(f"{out} is a symbolic link; redaction never follows one")
    dest = out.resolve()
    if dest.suffix.lower() != ".mp4":
        raise InvalidInput(
            f"{dest.name}: redacted copies are MP4 files (use a .mp4 name)", field="out"
        )
    if dest.exists():
        raise CustodyConflict(f"{dest} exists; redaction never overwrites a file")
    check_writable_folder(dest.parent)
    return dest


def _record_redaction(
    uc: UseCase, job: _Prepared, rendered: Rendered, derivative_id: str, job_id: str | None
) -> list[str]:
    """Put the derivative on record (and alert, when authorization said to); the
    audiences alerted. The job it finishes (``job_id``) is marked done in this commit."""
    job_result: JSONObject | None = None
    job_note: JSONObject = {}
    if job_id is not None:
        job_result = redacted_result(
            Redacted(
                derivative_id,
                [],
                job.dest,
                rendered.frames_redacted,
                rendered.sha256,
                rendered.sidecar,
                rendered.contact_sheet,
            )
        )
        job_note = {"job": job_id, "job_result_sha256": document_digest(job_result)}
    seq = uc.record(
        Action.REDACT,
        case=job.case,
        evidence=job.evidence,
        object_type="derivative",
        object_id=derivative_id,
        reason=job.reason,
        details={
            "sha256": rendered.sha256,
            "frames_redacted": rendered.frames_redacted,
            "sidecar_sha256": rendered.sidecar_sha256,
            "operations": [op["op"] for op in rendered.operations],
            "lineage_sha256": document_digest(rendered.lineage(job.evidence)),
            **alert_note(AlertKind.SENSITIVE_REDACT, job.reason, alert=job.decision.alert),
            # What it hides, signed: what a person may accept it as covering.
            "applied": rendered.applied,
            **job_note,
        },
    )
    uc.uow.derivatives.add(
        Derivative(
            id=derivative_id,
            evidence_id=job.evidence.id,
            kind="redaction",
            created_at=now_iso(uc.ctx),
            actor=uc.actor.username,
            sha256=rendered.sha256,
            sidecar_sha256=rendered.sidecar_sha256,
            frames_redacted=rendered.frames_redacted,
            lineage=rendered.lineage(job.evidence),
            audit_seq=seq,
        )
    )
    alerted = alert_if_flagged(
        uc.ctx,
        uc.uow,
        job.decision,
        seq,
        AlertKind.SENSITIVE_REDACT,
        uc.actor.username,
        job.evidence,
        job.reason,
    )
    if job_id is not None:
        uc.uow.jobs.finish(job_id, JobStatus.DONE, now_iso(uc.ctx), result=job_result)
    uc.commit()
    return alerted


def _detector(ctx: Context, face_model: str) -> Detector:
    from custodes.media.faces import face_detector

    # The 8-bit model is derived from the shipped one once and kept with the vault.
    return face_detector(face_model, cache_dir=ctx.model_dir)


def _render_redaction(
    ctx: Context,
    evidence: Evidence,
    source: Path,
    dest: Path,
    spec: _Redaction,
    task: ProgressTask,
    *,
    store: bool = True,
) -> Rendered:
    """Plan (unless a reviewed plan is given), render, keep the sidecar and a sheet.

    With ``store`` the redacted file is also kept in the blob store (a derivative on
    record); a release passes False, its copies being recorded as exports instead.
    """
    plan = spec.plan
    if plan is None:
        detector = _detector(ctx, spec.face_model) if spec.faces else None
        plan = plan_redaction(
            source,
            faces=spec.faces,
            regions=spec.seeds,
            detector=detector,
            source_sha256=evidence.sha256,
            progress=task.advance,
        )
    sidecar_path = dest.with_suffix(".boxes.json")
    sheet_path = dest.with_suffix(".contact.png")
    for p in (sidecar_path, sheet_path):
        if p.exists():
            raise CustodyConflict(f"{p} exists; redaction never overwrites a file")
    result = apply_redaction(
        source,
        dest,
        plan,
        style=spec.style,
        mute=list(spec.mute),
        bleep=spec.bleep,
        progress=task.advance,
    )
    try:
        plan.save(sidecar_path)
        contact_sheet(sheet_path, dest, plan)
        digest = _keep(ctx, dest, store=store)
    except BaseException:
        for p in (dest, sidecar_path, sheet_path):
            p.unlink(missing_ok=True)
        raise
    sidecar_sha = hashlib.sha256(sidecar_path.read_bytes()).hexdigest()
    applied: JSONObject = plan.applied()
    operations: list[JSONObject] = [
        {
            "op": "redact",
            "faces": plan.faces,
            "detector": plan.detector,
            "regions": len(plan.regions),
            "style": spec.style,
            "boxes": plan.box_count(),
            "sidecar_sha256": sidecar_sha,
            "applied": dict(applied),
        }
    ]
    if spec.mute:
        audio: JSONObject = {
            "mode": "bleep" if spec.bleep else "mute",
            "ranges": [[a, b] for a, b in spec.mute],
        }
        operations.append({"op": "audio", **audio})
        applied["audio"] = audio
    return Rendered(
        sha256=digest,
        frames_redacted=result.frames_redacted,
        sidecar=sidecar_path,
        sidecar_sha256=sidecar_sha,
        contact_sheet=sheet_path,
        operations=operations,
        applied=applied,
    )


def _keep(ctx: Context, path: Path, *, store: bool) -> str:
    """The SHA-256 of the file at ``path``, kept in the blob store when ``store``."""
    with open(path, "rb") as fh:
        staged = ctx.blobs.stage(fh)
    if store:
        return ctx.blobs.commit(staged).sha256
    ctx.blobs.discard(staged)
    return staged.sha256
