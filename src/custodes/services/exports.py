"""Exports: a derivative of evidence made for one named recipient.

The original never leaves the vault. Each export is trimmed and scaled as asked, carries
an invisible forensic watermark keyed to the export (from the vault secret and the
export id, so nothing per export is stored), and by default a visible line naming the
recipient. The export is recorded with its lineage and audited. A release's copies also
carry signed Content Credentials (C2PA) stating that lineage.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av

from custodes import __version__
from custodes.core.authz import AlertKind, Decision, Permission
from custodes.core.custody import Action
from custodes.core.errors import CustodesError, CustodyConflict, IntegrityFailure, InvalidInput
from custodes.core.jsontext import JSONObject, JSONValue, jsonable
from custodes.core.ledger import document_digest
from custodes.core.ports import SigningCredential
from custodes.core.records import Evidence, Export, JobStatus
from custodes.core.watermark import MarkParams, derive_key
from custodes.media.provenance import build_manifest, sign_mp4
from custodes.media.render import EncodeSettings, RenderResult, output_size, render
from custodes.media.segments import Joined, Segment, join_parts, plan_segments, render_part
from custodes.processes import pid_alive
from custodes.services.common import (
    check_writable_folder,
    new_id,
    now_iso,
    sha256_file,
    verified_original,
)
from custodes.services.context import Context
from custodes.services.events import hidden_cases, record_filter
from custodes.services.evidence import alert_if_flagged, alert_note
from custodes.services.state import vouch_export_list
from custodes.services.usecase import UseCase, acting

KEY_VERSION = 1
MARK_SCHEME = "custodes-luma-spread-spectrum/1"


def software_versions() -> JSONObject:
    libs: JSONObject = {name: ".".join(map(str, v)) for name, v in av.library_versions.items()}
    return {"custodes": __version__, "pyav": av.__version__, "ffmpeg": libs}


def check_range(
    start: float | None, end: float | None, duration: float, damage: str | None = None
) -> tuple[float, float]:
    """The portion asked for, within the recording (of a damaged one, its readable part)."""
    s = 0.0 if start is None else float(start)
    e = duration if end is None else float(end)
    for name, v in (("start", s), ("end", e)):
        if not math.isfinite(v):
            raise InvalidInput(f"{{{name}}} must be a number of seconds, got {v}", field=name)
    if not (0 <= s < duration):
        readable = "readable part of the damaged recording" if damage else "recording"
        raise InvalidInput(
            f"{{start}} {s:g} is outside the {readable} (0 to {duration:.2f} s)", field="start"
        )
    if e <= s:
        raise InvalidInput(f"{{end}} {e:g} must be after {{start}} {s:g}", fields=("end", "start"))
    if e > duration + 1e-6:
        if damage is not None:
            raise InvalidInput(
                f"{{end}} {e:g} is past the readable end of the recording ({duration:.2f} s): "
                f"it is damaged ({damage}); ask for a portion that ends by {duration:.2f} s",
                field="end",
            )
        raise InvalidInput(
            f"{{end}} {e:g} is past the end of the recording ({duration:.2f} s)", field="end"
        )
    return s, e


def check_text(value: str, field: str, limit: int) -> str:
    value = " ".join(value.split())
    if not value:
        raise InvalidInput(f"{{{field}}} must not be empty", field=field)
    if len(value) > limit or not value.isprintable():
        raise InvalidInput(
            f"{{{field}}} must be printable text of at most {limit} characters", field=field
        )
    return value


# What an export killed outright (SIGKILL, power loss) leaves in its output folder: the
# hidden copy under its pending name, its C2PA-signed twin, the encoder's part file, or a
# segment of a segmented export (and its part file),
# each naming the process that made it.
_LEFTOVER = re.compile(
    r"^\..+\.EX-[A-Z2-7]{12}\.(\d+)\.pending"
    r"(?:\.c2pa|(?:\.seg\d{4}\.mp4)?(?:\.\d+\.[0-9a-f]{8}\.part)?)$"
)


def sweep_leftovers(folder: Path) -> list[str]:
    """Remove the hidden files of exports into ``folder`` whose process is gone; return
    their names. Files of running exports, and anything else, are left alone."""
    removed: list[str] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _LEFTOVER.match(entry.name)
        if m is None or pid_alive(int(m.group(1))) or not entry.is_file(follow_symlinks=False):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(entry.path)
            removed.append(entry.name)
    return removed


@dataclass(frozen=True)
class ExportEvidence:
    """Make a watermarked copy of evidence for one named recipient."""

    evidence_id: str
    recipient: str
    purpose: str
    start: float | None = None
    """Seconds into the recording (default: its start)."""
    end: float | None = None
    """Seconds into the recording (default: its end)."""
    out: Path | None = None
    """The copy's file (.mp4); when None, ``<export id>.mp4`` in ``out_dir``."""
    out_dir: Path | None = None
    height: int | None = None
    """Scale down to this height (default: the source's size)."""
    visible_mark: bool = True
    """Burn in a line naming the recipient, the export id and the date."""
    settings: EncodeSettings = field(default_factory=EncodeSettings)
    params: MarkParams = field(default_factory=MarkParams)
    derived_from: tuple[Path, Sequence[JSONObject]] | None = None
    """(path, operations): render from a derivative of the evidence that keeps its
    timeline (a redacted copy) instead of the original; its operations are recorded first
    in the copy's lineage. The caller has checked that file's hash and the original's."""
    content_credentials: JSONObject | None = None
    """Facts to add to a signed C2PA manifest embedded in the copy (such as the release
    it belongs to; possibly none); None embeds no manifest."""
    export_id: str | None = None
    """The export's id when it was allocated beforehand (a job's, fixed when it was
    requested, so that a retried job makes the same export); None: a new one."""
    job_id: str | None = None
    """The job this export finishes: its row is marked done in the export's own
    transaction, and the export event names it (``job``, ``job_result_sha256``)."""
    made_on: str | None = None
    """The date (YYYY-MM-DD) in the visible line when it was fixed beforehand (the
    segments of one export, rendered apart, carry the same line); None: today."""
    parts: tuple[Path, ...] | None = None
    """The export's segments, rendered already (by segment jobs, :func:`render_segment`),
    in order: they are joined (the sound encoded once) instead of rendered."""


@dataclass(frozen=True)
class Exported:
    """A copy made and on record."""

    export_id: str
    path: str
    sha256: str
    evidence_id: str
    recipient: str
    start_s: float
    end_s: float
    frames: int
    width: int
    height: int


@dataclass(frozen=True)
class ExportItem:
    """An export on record, as listed."""

    export_id: str
    evidence_id: str
    recipient: str
    purpose: str
    actor: str
    created_at: str
    start_s: float
    end_s: float
    sha256: str
    lineage: JSONObject


@dataclass(frozen=True)
class _Plan:
    """What the checks of an export settled before rendering."""

    export_id: str
    evidence: Evidence
    decision: Decision
    recipient: str
    purpose: str
    start_s: float
    end_s: float
    size: tuple[int, int]
    dest: Path
    secret: bytes
    credential: SigningCredential | None


def export_evidence(ctx: Context, actor_name: str | None, cmd: ExportEvidence) -> Exported:
    """Render and record one export (progress in frames).

    The copy is rendered under a hidden name, signed when asked, put on record, and only
    then given its real name: a kill at any point leaves no copy that is not on record.
    The original is re-hashed when it is what is read; the recorded hash is the copy's
    (the signed file's, with Content Credentials).
    """
    export_id = cmd.export_id or new_id("EX")
    held = contextlib.ExitStack()  # the original, materialised until the copy is rendered
    with acting(ctx, actor_name) as uc:
        plan = _prepare(uc, cmd, export_id, held)
        source = _source(uc, cmd, plan, held)
    # The unit of work is closed: the database is free while the copy renders.
    pending = plan.dest.with_name(f".{plan.dest.name}.{export_id}.{os.getpid()}.pending")
    signed = pending.with_name(pending.name + ".c2pa")
    try:
        with held:
            text = visible_line(plan.recipient, export_id, cmd.made_on or today(ctx))
            result = _render(ctx, cmd, plan, source, pending, text)
        lineage = _lineage(cmd, plan, result, text)
        if plan.credential is not None:
            lineage = _sign(cmd, plan, pending, signed, lineage, plan.credential)
        digest, size = sha256_file(pending)
        exported = Exported(
            export_id=export_id,
            path=str(plan.dest),
            sha256=digest,
            evidence_id=plan.evidence.id,
            recipient=plan.recipient,
            start_s=plan.start_s,
            end_s=result.end_s,
            frames=result.frames,
            width=result.width,
            height=result.height,
        )
        _put_on_record(ctx, actor_name, plan, cmd, result, lineage, exported, size)
        os.replace(pending, plan.dest)
    finally:
        pending.unlink(missing_ok=True)
        signed.unlink(missing_ok=True)
    return exported


def today(ctx: Context) -> str:
    return f"{ctx.clock.now():%Y-%m-%d}"


def visible_line(recipient: str, export_id: str, made_on: str) -> str:
    """The line burnt into a copy that names its recipient (``visible_mark``)."""
    return f"COPY FOR {recipient}  {export_id}  {made_on}"


@dataclass(frozen=True)
class SegmentPlan:
    """A long export cut at the source's keyframes, to be rendered apart (segment jobs)."""

    segments: tuple[Segment, ...]
    recipient: str
    made_on: str


def plan_segmented(
    ctx: Context, actor_name: str | None, cmd: ExportEvidence, export_id: str
) -> SegmentPlan | None:
    """Check an export as :func:`export_evidence` does (each refusal on record) and cut it
    into segments of about ``CUSTODES_SEGMENT_SECONDS`` at the source's keyframes; None
    when segmenting is off or the export is one segment."""
    length = ctx.segment_seconds
    if not length:
        return None
    held = contextlib.ExitStack()
    with acting(ctx, actor_name) as uc:
        plan = _prepare(uc, cmd, export_id, held)
        if plan.end_s - plan.start_s <= length:
            return None
        source = _source(uc, cmd, plan, held)
    with held:
        segments = plan_segments(source, plan.start_s, plan.end_s, length)
    if len(segments) <= 1:
        return None
    return SegmentPlan(tuple(segments), plan.recipient, cmd.made_on or today(ctx))


def render_segment(
    ctx: Context,
    evidence_id: str,
    export_id: str,
    segment: Segment,
    dest: Path,
    *,
    height: int | None,
    visible_text: str | None,
    settings: EncodeSettings | None = None,
    params: MarkParams | None = None,
) -> RenderResult:
    """Render one segment of export ``export_id`` to ``dest`` (atomically), exactly as
    :func:`export_evidence` renders it in one process: the same marker (keyed to the
    export) at the same source times, the same size and visible line. The original is
    re-hashed first. Authorization and the record are the export's (its job checked
    the request; the join checks again and puts the copy on record)."""
    from custodes.media.fastmark import FastEmbedder

    with ctx.uow(readonly=True) as uow:
        ev = uow.evidence.find(evidence_id)
    if ev is None:
        raise InvalidInput(f"no evidence '{evidence_id}'")
    width, out_height = output_size(ev.media.width, ev.media.height, height)
    key = derive_key(ctx.watermark_secret, export_id, KEY_VERSION)
    fps = ev.media.fps or 30
    task = ctx.progress.start(
        "segment", max(1, round((segment.end_s - segment.start_s) * fps)), unit="frame"
    )
    with verified_original(ctx, ev.id, ev.sha256) as source:
        return render_part(
            source,
            dest,
            segment,
            height=height,
            marker=FastEmbedder(key, width, out_height, params or MarkParams()),
            visible_text=visible_text,
            settings=settings or EncodeSettings(),
            progress=task.advance,
        )


def pending_files(dest: Path, export_id: str) -> list[Path]:
    """The hidden files an export ``export_id`` into ``dest`` may have left, whatever
    process made them (see :data:`_LEFTOVER`)."""
    prefix = f".{dest.name}.{export_id}."
    try:
        return sorted(p for p in dest.parent.iterdir() if p.name.startswith(prefix))
    except OSError:
        return []


def _prepare(uc: UseCase, cmd: ExportEvidence, export_id: str, held: contextlib.ExitStack) -> _Plan:
    """Check the inputs, the permission and the destination; each refusal on record."""
    attempted = Permission.EVIDENCE_EXPORT
    ev, case = uc.found_evidence(cmd.evidence_id, attempted=attempted)
    try:
        recipient = check_text(cmd.recipient, "recipient", 128)
        purpose = check_text(cmd.purpose, "purpose", 2000)
    except InvalidInput as exc:
        uc.refuse(exc, attempted=attempted.value, case=case.number, evidence=ev.id)
    decision = uc.allow(attempted, case=case, evidence=ev, reason=purpose)
    try:
        start_s, end_s = check_range(cmd.start, cmd.end, ev.media.duration_s, ev.media.damage)
        size = output_size(ev.media.width, ev.media.height, cmd.height)
        dest = _destination(cmd, export_id)
        secret = uc.ctx.watermark_secret  # refused here, on record, if it is missing
        credential = uc.ctx.content_credential() if cmd.content_credentials is not None else None
    except CustodesError as exc:
        uc.refuse(exc, attempted=attempted.value, case=case.number, evidence=ev.id, reason=purpose)
    return _Plan(
        export_id, ev, decision, recipient, purpose, start_s, end_s, size, dest, secret, credential
    )


def _source(uc: UseCase, cmd: ExportEvidence, plan: _Plan, held: contextlib.ExitStack) -> Path:
    """The file the copy is rendered from: the given derivative, else the original,
    re-hashed (a changed or missing one is refused on record)."""
    if cmd.derived_from is not None:
        return cmd.derived_from[0]
    ev = plan.evidence
    try:
        return held.enter_context(verified_original(uc.ctx, ev.id, ev.sha256))
    except CustodesError as exc:
        held.close()
        uc.refuse(
            exc,
            attempted=Permission.EVIDENCE_EXPORT.value,
            case=ev.case_number,
            evidence=ev.id,
            reason=plan.purpose,
        )


def _destination(cmd: ExportEvidence, export_id: str) -> Path:
    """Where the copy goes: a new .mp4 file in a folder that takes new files. Hidden
    files that killed exports left there are swept first."""
    if cmd.out is not None:
        given = cmd.out
    elif cmd.out_dir is not None:
        given = cmd.out_dir / f"{export_id}.mp4"
    else:
        raise InvalidInput("where the copy goes is needed ({out})", field="out")
    if given.is_symlink():  # dangling or not: a copy goes where it is named
        raise CustodyConflict(f"{given} is a symbolic link; exports never follow one")
    dest = given.resolve()
    if dest.suffix.lower() != ".mp4":
        raise InvalidInput(f"{dest.name}: exports are MP4 files (use a .mp4 name)")
    if dest.exists():
        raise CustodyConflict(f"{dest} exists; exports never overwrite a file")
    check_writable_folder(dest.parent)
    sweep_leftovers(dest.parent)
    return dest


def _render(
    ctx: Context, cmd: ExportEvidence, plan: _Plan, source: Path, pending: Path, text: str
) -> RenderResult:
    """Trim, scale, watermark (and visibly mark) the source into ``pending``."""
    # Imported here: numba takes most of a second to load, which no other command needs.
    from custodes.media.fastmark import FastEmbedder

    task = ctx.progress.start("export", None, unit="frame")
    fps = plan.evidence.media.fps or 30
    task.set_total(max(1, round((plan.end_s - plan.start_s) * fps)))
    width, height = plan.size
    key = derive_key(plan.secret, plan.export_id, KEY_VERSION)
    visible = text if cmd.visible_mark else None
    if cmd.parts is not None:  # rendered already, by segment jobs: joined only
        task.set_total(len(cmd.parts))
        joined = join_parts(
            cmd.parts,
            source,
            pending,
            start_s=plan.start_s,
            end_s=plan.end_s,
            settings=cmd.settings,
        )
        task.advance(len(cmd.parts))
        return _joined_result(plan, joined, len(cmd.parts))
    length = ctx.segment_seconds or None
    segments = plan_segments(source, plan.start_s, plan.end_s, length) if length else []
    if len(segments) <= 1:
        return render(
            source,
            pending,
            start_s=plan.start_s,
            end_s=plan.end_s,
            height=cmd.height,
            marker=FastEmbedder(key, width, height, cmd.params),
            visible_text=visible,
            settings=cmd.settings,
            progress=task.advance,
        )
    # Segment-parallel: each segment rendered apart (here one after the other) into a
    # hidden part beside the pending copy (swept with it), then joined by copying.
    parts = [pending.with_name(f"{pending.name}.seg{s.index:04d}.mp4") for s in segments]
    try:
        frames = 0
        for seg, part in zip(segments, parts, strict=True):
            frames += render_part(
                source,
                part,
                seg,
                height=cmd.height,
                marker=FastEmbedder(key, width, height, cmd.params),
                visible_text=visible,
                settings=cmd.settings,
                progress=task.advance,
            ).frames
        joined = join_parts(
            parts,
            source,
            pending,
            start_s=plan.start_s,
            end_s=plan.end_s,
            settings=cmd.settings,
        )
    finally:
        for part in parts:
            part.unlink(missing_ok=True)
    return _joined_result(plan, joined, len(segments))


def _joined_result(plan: _Plan, joined: Joined, segments: int) -> RenderResult:
    return RenderResult(
        frames=joined.frames,
        width=joined.width,
        height=joined.height,
        fps=joined.fps,
        start_s=plan.start_s,
        end_s=min(plan.end_s, plan.start_s + joined.frames / joined.fps),
        has_audio=joined.has_audio,
        audio_packets_skipped=joined.audio_packets_skipped,
        segments=segments,
    )


def _lineage(cmd: ExportEvidence, plan: _Plan, result: RenderResult, text: str) -> JSONObject:
    """Where the copy comes from and every operation that made it."""
    ev = plan.evidence
    visible: JSONObject = {"op": "visible-mark", "text": text}
    # A copy is said to be resized (C2PA's c2pa.resized) only when its frame size differs
    # from the original's.
    source_size = (ev.media.width, ev.media.height)
    scale: list[JSONValue] = (
        []
        if (result.width, result.height) == source_size
        else [
            {
                "op": "scale",
                "from_width": source_size[0],
                "from_height": source_size[1],
                "width": result.width,
                "height": result.height,
            }
        ]
    )
    operations: list[JSONValue] = [
        *(cmd.derived_from[1] if cmd.derived_from is not None else []),
        {"op": "trim", "start_s": plan.start_s, "end_s": result.end_s},
        *scale,
        {
            "op": "forensic-watermark",
            "scheme": MARK_SCHEME,
            "key_version": KEY_VERSION,
            "params": cmd.params.to_dict(),
        },
        *([visible] if cmd.visible_mark else []),
        {"op": "encode", **cmd.settings.to_dict()},
    ]
    return {
        "source": {"evidence_id": ev.id, "sha256": ev.sha256, "case": ev.case_number},
        "operations": operations,
        "frames": result.frames,
        **({"segments": result.segments} if result.segments > 1 else {}),
        "audio_packets_skipped": result.audio_packets_skipped,
        "software": software_versions(),
    }


def _sign(
    cmd: ExportEvidence,
    plan: _Plan,
    pending: Path,
    signed: Path,
    lineage: JSONObject,
    credential: SigningCredential,
) -> JSONObject:
    """Embed a signed C2PA manifest stating the lineage in ``pending``; the lineage with
    the signing added."""
    manifest = build_manifest(
        title=plan.dest.name,
        lineage=lineage,
        extra={
            "export_id": plan.export_id,
            "recipient": plan.recipient,
            **(cmd.content_credentials or {}),
        },
    )
    sign_mp4(pending, signed, manifest, credential)
    os.replace(signed, pending)
    operations = lineage["operations"]
    assert isinstance(operations, list)
    signing: JSONObject = {
        "op": "c2pa-manifest",
        "alg": credential.alg,
        "signer": credential.subject,
        "cert_sha256": credential.cert_sha256,
        "origin": credential.origin,
    }
    return {**lineage, "operations": [*operations, signing]}


def _put_on_record(
    ctx: Context,
    actor_name: str | None,
    plan: _Plan,
    cmd: ExportEvidence,
    result: RenderResult,
    lineage: JSONObject,
    exported: Exported,
    size: int,
) -> None:
    """Record the export, its event and (on a flagged case) its alert, in one commit;
    and mark the job it finishes done, in the same commit."""
    ev = plan.evidence
    digest = exported.sha256
    job_result = jsonable(exported)
    job_note: JSONObject = (
        {}
        if cmd.job_id is None
        else {"job": cmd.job_id, "job_result_sha256": document_digest(job_result)}
    )
    with acting(ctx, actor_name) as uc:
        seq = uc.record(
            Action.EXPORT,
            case=ev.case_number,
            evidence=ev,
            object_type="export",
            object_id=plan.export_id,
            reason=plan.purpose,
            details={
                "recipient": plan.recipient,
                "start_s": plan.start_s,
                "end_s": result.end_s,
                "output_sha256": digest,
                "width": result.width,
                "height": result.height,
                "visible_mark": cmd.visible_mark,
                "key_version": KEY_VERSION,
                "content_credentials": plan.credential is not None,
                "lineage_sha256": document_digest(lineage),
                **alert_note(AlertKind.SENSITIVE_EXPORT, plan.purpose, alert=plan.decision.alert),
                **job_note,
            },
        )
        uc.uow.exports.add(
            Export(
                id=plan.export_id,
                evidence_id=ev.id,
                recipient=plan.recipient,
                purpose=plan.purpose,
                actor=uc.actor.username,
                created_at=now_iso(ctx),
                start_s=plan.start_s,
                end_s=result.end_s,
                width=result.width,
                height=result.height,
                visible_mark=cmd.visible_mark,
                key_version=KEY_VERSION,
                output_sha256=digest,
                output_size=size,
                lineage=lineage,
                audit_seq=seq,
            )
        )
        alert_if_flagged(
            ctx,
            uc.uow,
            plan.decision,
            seq,
            AlertKind.SENSITIVE_EXPORT,
            uc.actor.username,
            ev,
            plan.purpose,
        )
        if cmd.job_id is not None:
            uc.uow.jobs.finish(cmd.job_id, JobStatus.DONE, now_iso(ctx), result=job_result)
        uc.commit()


def list_exports(
    ctx: Context, actor_name: str | None, evidence_id: str | None = None
) -> list[ExportItem]:
    """Exports on record; those of a case whose record the actor may not read (a case
    under internal-affairs investigation) are left out, or refused when named."""
    with acting(ctx, actor_name, readonly=True) as uc:
        uc.allow(Permission.AUDIT_READ)
        facts = {c.number: c.facts for c in uc.uow.cases.list()}
        record_filter(uc, evidence_id=evidence_id)
        try:
            vouch_export_list(uc.uow, uc.uow.exports.list(evidence_id=evidence_id), evidence_id)
        except IntegrityFailure as exc:
            uc.refuse(exc, attempted=Permission.AUDIT_READ.value, evidence=evidence_id)
        listed = uc.uow.exports.list(
            evidence_id=evidence_id, hidden_cases=hidden_cases(uc.actor, facts)
        )
    return [
        ExportItem(
            export_id=e.id,
            evidence_id=e.evidence_id,
            recipient=e.recipient,
            purpose=e.purpose,
            actor=e.actor,
            created_at=e.created_at,
            start_s=e.start_s,
            end_s=e.end_s,
            sha256=e.output_sha256,
            lineage=e.lineage,
        )
        for e in listed
    ]
