"""`custodes trace`: which evidence, which seconds, which copy, and who had it.

1. The leaked file is hashed and probed (it must be decodable video).
2. Its fingerprint is located among the fingerprints of the evidence the actor may see
   (cached per evidence in the database after the first trace, each row bound to its
   signed ``fingerprint`` event; one the log does not vouch for is recomputed).
3. Every leaked frame is mapped onto its original frame (time, geometry, tone) and the
   original is subtracted; the residual is accumulated per watermark period.
4. Each export of that evidence overlapping the located seconds is scored, and so are
   never-issued keys (the empirical null). A copy is named only when its
   false-accusation probability is below ``alpha`` / (number of candidates).
5. The trace is recorded and audited, and a report (HTML and PDF) is written.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NoReturn

from custodes import __version__
from custodes.core import attribution
from custodes.core.authz import AlertKind, Permission, decide
from custodes.core.custody import Action
from custodes.core.errors import CustodesError, IntegrityFailure, InvalidInput, NotFound
from custodes.core.jsontext import JSONObject, JSONValue, jsonable
from custodes.core.ledger import (
    FingerprintState,
    document_digest,
    fingerprint_key,
    fingerprint_state,
)
from custodes.core.media import MediaInfo
from custodes.core.records import Evidence, JobStatus, StoredFingerprint, Trace, TracedCopy
from custodes.core.watermark import (
    Accumulator,
    derive_key,
    null_keys,
    perceptual_mask,
    score_tail_bound,
)
from custodes.media.archive import ARCHIVE_CANDIDATES, can_key, locate_in_archive
from custodes.media.fingerprint import FORMAT_VERSION, Fingerprint, fingerprint_video
from custodes.media.leak import iter_registered_frames
from custodes.media.locate import SourceMatch, locate
from custodes.media.probe import probe
from custodes.media.stills import frame_png
from custodes.reports.trace import odds_text, render_html, render_pdf
from custodes.services.archive import load_index, store_keys
from custodes.services.common import (
    check_output_folder,
    made_output_folder,
    new_id,
    now_iso,
    sha256_file,
    verified_original,
)
from custodes.services.context import Context
from custodes.services.evidence import alert_note, raise_alert
from custodes.services.state import check_copies, vouched_fingerprints
from custodes.services.usecase import UseCase, acting
from custodes.services.viewings import check_viewing_copies

ALPHA = 1e-6
MAX_SOURCES_TESTED = 3
"""Matching recordings whose copies a trace tests (best match first): the same
footage may be held more than once (a recording and a re-encoded copy of it in
another case), and the copy that leaked may have been made from any of them."""
"""The probability of naming any innocent recipient in one trace."""
NULL_KEYS = 1000


@dataclass(frozen=True)
class TraceSource:
    """Where the leaked clip was found: the evidence and the seconds it shows."""

    evidence_id: str
    case: str
    offset_s: float
    duration_s: float
    rate: float
    match_score: float
    sha256: str
    frames_registered: int = 0


@dataclass(frozen=True)
class HeldAlso:
    """Another recording that shows the leaked footage (it is held more than once)."""

    evidence_id: str
    case: str
    offset_s: float
    rate: float
    match_score: float
    copies_tested: bool
    """Whether this recording's copies were scored against the leak too."""


@dataclass(frozen=True)
class Candidate:
    """An exported copy of the located seconds, scored against the leak."""

    export_id: str
    recipient: str
    score: float
    p_value: float
    """The false-accusation probability as the trace states it: never below ``p_floor``
    (``p_below_floor``: the computed value is smaller, read ``p < p_value``)."""
    attributed: bool
    exported_by: str
    exported_at: str
    purpose: str
    start_s: float
    end_s: float
    kind: str = "export"
    """``export``, or ``viewing``: a marked stream played to its viewer (the recipient)."""
    p_floor: float = attribution.P_FLOOR
    """The smallest p-value a trace states (see ``attribution.P_FLOOR``)."""
    p_below_floor: bool = False
    null_keys: int = 0
    """How many never-issued keys were scored against this copy's mark."""
    null_at_or_above: int = 0
    """How many of them scored at least this copy's score (the measured p-value is
    ``(null_at_or_above + 1) / (null_keys + 1)``)."""


@dataclass(frozen=True)
class Findings:
    """What a trace found, as it is kept on record."""

    verdict: str
    """``attributed``, ``no-export-matched`` or ``source-not-found``."""
    source: TraceSource | None = None
    candidates: list[Candidate] = field(default_factory=list)
    attributed: list[str] = field(default_factory=list)
    """The export ids named (below the false-accusation threshold)."""
    held_also: list[HeldAlso] = field(default_factory=list)
    """Other recordings in the vault that show the same footage, best match first."""


@dataclass(frozen=True)
class Leak:
    name: str
    sha256: str
    size: int
    duration_s: float
    width: int
    height: int


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    pdf: Path


@dataclass(frozen=True)
class Traced:
    """A trace on record, with its findings and its report."""

    verdict: str
    source: TraceSource | None
    candidates: list[Candidate]
    attributed: list[str]
    trace_id: str
    audit_seq: int
    leak: Leak
    report: ReportFiles
    held_also: list[HeldAlso] = field(default_factory=list)


@dataclass(frozen=True)
class Indexed:
    indexed: list[str]
    """The evidence fingerprinted now."""
    already_indexed: int
    evidence: int
    """How much evidence the actor may trace against."""


@dataclass(frozen=True)
class _Attribution:
    """What scoring the copies found, and what the report shows of it."""

    candidates: list[Candidate]
    frames_registered: int
    copies: dict[str, TracedCopy]
    frames: list[JSONObject]
    null: JSONObject


def _traceable_evidence(uc: UseCase, case_number: str | None) -> list[Evidence]:
    """The evidence the actor, allowed to trace, may search (of one case when named)."""
    uc.allow(Permission.LEAK_TRACE)
    case = None if case_number is None else uc.case(case_number, Permission.EVIDENCE_LIST)
    cases = {c.id: c for c in ([case] if case is not None else uc.uow.cases.list())}
    return [
        ev
        for ev in uc.uow.evidence.list(case)
        if decide(uc.actor, Permission.EVIDENCE_LIST, cases[ev.case_id].facts, ev.facts).allowed
    ]


def _frames(media: MediaInfo) -> int:
    return round(media.duration_s * (media.fps or 30))


def _fingerprints(
    ctx: Context, actor_name: str | None, sources: list[Evidence], *, skip: bool = False
) -> dict[str, Fingerprint]:
    """The fingerprints of the given evidence: the stored ones that their signed
    ``fingerprint`` event vouches for; any other (none stored, or a row that was edited,
    deleted or inserted behind the vault's back, or made before these events) is
    recomputed from the re-hashed original and stored with a new event, which says what
    it replaced. An edited fingerprint could make a trace miss its source.

    A recording that must be recomputed and whose original is gone or altered is refused,
    on record (IntegrityFailure: a trace without it could miss its source), or with
    ``skip`` (indexing ahead of traces) left out; verify reports the blob either way."""
    out: dict[str, Fingerprint] = {}
    with ctx.uow(readonly=True) as uow:
        ids = [ev.id for ev in sources]
        stored = {f.evidence_id: f.data for f in uow.fingerprints.some(ids, FORMAT_VERSION)}
        vouched = vouched_fingerprints(uow)
    redo: list[tuple[Evidence, str]] = []
    for ev in sources:
        want = vouched.get(fingerprint_key(ev.id, FORMAT_VERSION))
        data = stored.get(ev.id)
        why = _unvouched_fingerprint(ev.id, want, data)
        if why is None and data is not None:
            try:
                out[ev.id] = Fingerprint.from_bytes(data)
                continue
            except CustodesError:
                why = "unreadable"
        redo.append((ev, why or "none"))
    if not redo:
        return out
    task = ctx.progress.start(
        "fingerprint evidence", sum(_frames(ev.media) for ev, _ in redo), unit="frame"
    )
    for ev, why in redo:
        with contextlib.ExitStack() as held:
            try:
                path = held.enter_context(verified_original(ctx, ev.id, ev.sha256))
            except (NotFound, IntegrityFailure) as exc:
                if skip:
                    continue
                _refuse_unfingerprinted(ctx, actor_name, ev, exc)
            fp = fingerprint_video(path, progress=task.advance)
        out[ev.id] = fp
        _store_fingerprint(ctx, actor_name, ev, fp, why, stored.get(ev.id))
    return out


def _refuse_unfingerprinted(
    ctx: Context, actor_name: str | None, ev: Evidence, exc: CustodesError
) -> NoReturn:
    error = IntegrityFailure(
        f"evidence {ev.id} has no fingerprint the audit log vouches for and cannot be "
        f"fingerprinted again ({exc}): a trace without it could miss its source",
        advice="verify the vault and restore the original from a backup",
    )
    with acting(ctx, actor_name) as uc:
        uc.refuse(error, attempted=Permission.LEAK_TRACE.value, case=ev.case_number, evidence=ev.id)


def _unvouched_fingerprint(
    evidence_id: str, want: FingerprintState | None, data: bytes | None
) -> str | None:
    """Why a stored fingerprint may not be used (None: its event vouches for it)."""
    if data is None:
        return "none" if want is None else "missing"
    if want is None:
        return "unlogged"
    if fingerprint_state(evidence_id, FORMAT_VERSION, data) != want:
        return "altered"
    return None


def _store_fingerprint(
    ctx: Context,
    actor_name: str | None,
    ev: Evidence,
    fp: Fingerprint,
    why: str,
    replaced: bytes | None,
) -> None:
    """Store a fingerprint and record its ``fingerprint`` event, in one transaction."""
    data = fp.to_bytes()
    with acting(ctx, actor_name) as uc:
        row = StoredFingerprint(ev.id, FORMAT_VERSION, data, now_iso(ctx))
        if why == "none":
            if not uc.uow.fingerprints.put(row):
                return  # a concurrent trace made it, and recorded it
        else:
            uc.uow.fingerprints.replace(row)
        store_keys(uc.uow, ev.id, fp, row.created_at)  # the archive index's keys (issue 20)
        uc.record(
            Action.FINGERPRINT,
            case=ev.case_number,
            evidence=ev.id,
            details={
                "format_version": FORMAT_VERSION,
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "replaced": None
                if why == "none"
                else {
                    "why": why,
                    "sha256": None if replaced is None else hashlib.sha256(replaced).hexdigest(),
                },
            },
        )
        uc.commit()


def check_index(ctx: Context, actor_name: str | None, case_number: str | None) -> None:
    """Refuse (on record) an index the actor may not run, as :func:`index_evidence`
    would: what a job that indexes checks when it is requested."""
    with acting(ctx, actor_name) as uc:
        _traceable_evidence(uc, case_number)


def index_evidence(
    ctx: Context,
    actor_name: str | None,
    *,
    case_number: str | None = None,
    job_id: str | None = None,
) -> Indexed:
    """Fingerprint the evidence not yet fingerprinted, ahead of any trace.

    A trace fingerprints what it has not seen before (75 s of CPU per hour of 640x360
    video), so the first trace after a large ingest pays for all of it; running this
    after ingest (a nightly job, say) keeps every trace at the cost of the leak alone.
    The fingerprints are derived data (coarse motion, no picture); each is stored with
    its own ``fingerprint`` event (the digest of its bytes), and one ``fingerprint-index``
    event names the evidence indexed. A row its event does not vouch for is redone.
    """
    with acting(ctx, actor_name, readonly=True) as uc:
        sources = _traceable_evidence(uc, case_number)
        stored = {f.evidence_id: f.data for f in uc.uow.fingerprints.all(FORMAT_VERSION)}
        vouched = vouched_fingerprints(uc.uow)
    done = {  # a row its event does not vouch for is fingerprinted again
        ev.id
        for ev in sources
        if ev.id in stored
        and _unvouched_fingerprint(
            ev.id, vouched.get(fingerprint_key(ev.id, FORMAT_VERSION)), stored[ev.id]
        )
        is None
    }
    todo = [ev for ev in sources if ev.id not in done]
    indexed = sorted(_fingerprints(ctx, actor_name, todo, skip=True)) if todo else []
    result = Indexed(
        indexed=indexed, already_indexed=len(sources) - len(todo), evidence=len(sources)
    )
    if indexed or job_id is not None:
        # A job's index event is written even when nothing was left to index (a retry
        # after its fingerprints were made): it is what finishes the job, in its commit.
        job_result: JSONObject = jsonable(result)
        job_note: JSONObject = (
            {}
            if job_id is None
            else {"job": job_id, "job_result_sha256": document_digest(job_result)}
        )
        with acting(ctx, actor_name) as uc:
            uc.record(
                Action.INDEX,
                object_type="fingerprints",
                case=case_number,
                details={"evidence": indexed, "format_version": FORMAT_VERSION, **job_note},
            )
            if job_id is not None:
                uc.uow.jobs.finish(job_id, JobStatus.DONE, now_iso(ctx), result=job_result)
            uc.commit()
    return result


def _check_inputs(leak: Path, report_dir: Path) -> None:
    if not leak.is_file():
        raise InvalidInput(
            f"{leak} is a folder, not a video file" if leak.is_dir() else f"no such file: {leak}",
            field="leak",
        )
    check_output_folder(report_dir, "report_dir")


def trace_leak(
    ctx: Context,
    actor_name: str | None,
    leak: Path,
    *,
    report_dir: Path,
    case_number: str | None = None,
    alpha: float = ALPHA,
) -> Traced:
    """Find which evidence and seconds ``leak`` shows and which exported copy it came
    from; put the trace on record (alerting when a copy is named) and write its report
    (``TR-....html`` and ``.pdf``) in ``report_dir``."""
    if not (0 < alpha < 1):
        raise InvalidInput("{alpha} must be between 0 and 1", field="alpha")
    with acting(ctx, actor_name, readonly=True) as uc:
        sources = _traceable_evidence(uc, case_number)
    _check_inputs(leak, report_dir)
    leak_sha, leak_size = sha256_file(leak)
    info = probe(leak)
    task = ctx.progress.start("fingerprint leak", info.frame_count or None, unit="frame")
    matches = locate_sources(ctx, actor_name, sources, leak, case_number, task.advance)
    findings, found, tested_alpha = _attribute_sources(
        ctx, actor_name, sources, matches, leak, info, alpha
    )
    with acting(ctx, actor_name) as uc:
        trace_id, seq = _record_trace(uc, leak, leak_sha, findings)
        history = _history(uc, findings, found) if findings.attributed else []
        actor = uc.actor.username
    traced = Traced(
        verdict=findings.verdict,
        source=findings.source,
        candidates=findings.candidates,
        attributed=findings.attributed,
        trace_id=trace_id,
        audit_seq=seq,
        leak=Leak(leak.name, leak_sha, leak_size, info.duration_s, info.width, info.height),
        report=ReportFiles(
            (report_dir / f"{trace_id}.html").resolve(), (report_dir / f"{trace_id}.pdf").resolve()
        ),
        held_also=findings.held_also,
    )
    doc = _report_doc(ctx, traced, found, history, actor, tested_alpha)
    with made_output_folder(report_dir, "report_dir"):
        _write_report(doc, traced.report)
    return traced


def locate_sources(
    ctx: Context,
    actor_name: str | None,
    sources: list[Evidence],
    leak: Path,
    case_number: str | None,
    progress: Callable[[int], None] | None = None,
) -> list[SourceMatch]:
    """Where the leak is among ``sources``: within one case, the linear search over
    every fingerprint; otherwise the archive index (issue 20), which reads the
    fingerprints of its few candidates only; a leak too short for the index's keys
    (:func:`custodes.media.archive.can_key`) is searched linearly too."""
    if case_number is not None:
        fps = _fingerprints(ctx, actor_name, sources)
        leak_fp = fingerprint_video(leak, progress=progress)
        return locate(leak_fp, fps) if fps else []
    leak_fp = fingerprint_video(leak, progress=progress)
    if not can_key(leak_fp):
        # Too short for one key of the index (under about 3 s): the index cannot speak
        # for it, and its silence would read as "not in the vault"; every source is
        # searched linearly instead.
        fps = _fingerprints(ctx, actor_name, sources)
        return locate(leak_fp, fps) if fps else []
    # A source with no keys is keyed from its fingerprint, made if need be; one that
    # cannot be fingerprinted is refused, on record, as the linear search refuses it:
    # a search that silently skipped it could say "not found" for its footage.
    index = load_index(ctx, sources, lambda evs: _fingerprints(ctx, actor_name, evs))
    by_id = {ev.id: ev for ev in sources}
    proposed = index.candidates(leak_fp, limit=ARCHIVE_CANDIDATES, allowed=set(by_id))
    # Only the candidates' fingerprints are read (each held to its signed event).
    fps = _fingerprints(ctx, actor_name, [by_id[i] for i in {c.source_id for c in proposed}])
    return locate_in_archive(leak_fp, index, fps.get, proposed=proposed)


def _attribute_sources(
    ctx: Context,
    actor_name: str | None,
    sources: list[Evidence],
    matches: list[SourceMatch],
    leak: Path,
    info: MediaInfo,
    alpha: float,
) -> tuple[Findings, _Attribution | None, float]:
    """Test the copies of every recording the leak matches (at most
    :data:`MAX_SOURCES_TESTED`, best match first) until one names a copy.

    The footage may be held more than once (a recording and a re-encoded copy of it in
    another case): the best-matching recording need not be the one the leaked copy was
    made from. The false-accusation level ``alpha`` is shared out over the recordings
    tested (Bonferroni, fixed before any is scored), so naming a copy from any of them
    keeps the trace's level. Returns the findings, what scoring found, and the level
    each recording was tested at."""
    best: dict[str, SourceMatch] = {}
    for m in matches:  # best first: one (the best) stretch per recording
        best.setdefault(m.source_id, m)
    if not best:
        return Findings("source-not-found"), None, alpha
    held = list(best.values())
    tested = held[:MAX_SOURCES_TESTED]
    each = alpha / len(tested)
    by_id = {ev.id: ev for ev in sources}
    first: tuple[Findings, _Attribution] | None = None
    chosen: tuple[Findings, _Attribution] | None = None
    for match in tested:
        findings, found = _attribute_match(ctx, actor_name, sources, match, leak, info, each)
        first = first or (findings, found)
        if findings.attributed:
            chosen = (findings, found)
            break
    assert first is not None  # tested is never empty
    findings, found = chosen or first
    named = findings.source.evidence_id if findings.source else None
    also = [
        HeldAlso(
            evidence_id=m.source_id,
            case=by_id[m.source_id].case_number,
            offset_s=round(m.source_start_s, 3),
            rate=round(m.rate, 4),
            match_score=round(m.score, 3),
            copies_tested=any(t.source_id == m.source_id for t in tested),
        )
        for m in held
        if m.source_id != named
    ]
    return replace(findings, held_also=also), found, each


def _attribute_match(
    ctx: Context,
    actor_name: str | None,
    sources: list[Evidence],
    match: SourceMatch,
    leak: Path,
    info: MediaInfo,
    alpha: float,
) -> tuple[Findings, _Attribution]:
    """Score the copies of the located seconds against the leak, on the original
    (re-hashed first: one altered or gone is refused, on record)."""
    src = next(ev for ev in sources if ev.id == match.source_id)
    source = TraceSource(
        evidence_id=src.id,
        case=src.case_number,
        offset_s=round(match.source_start_s, 3),
        duration_s=round(match.source_end_s - match.source_start_s, 3)
        if math.isfinite(match.source_end_s)
        else round(info.duration_s * match.rate, 3),
        rate=round(match.rate, 4),
        match_score=round(match.score, 3),
        sha256=src.sha256,
    )
    try:
        with verified_original(ctx, src.id, src.sha256) as source_path:
            found = _attribute(ctx, src, source, match, leak, source_path, info, alpha)
    except (NotFound, IntegrityFailure) as exc:  # the located original is gone or altered
        with acting(ctx, actor_name) as uc:
            uc.refuse(
                exc, attempted=Permission.LEAK_TRACE.value, case=src.case_number, evidence=src.id
            )
    attributed = [c.export_id for c in found.candidates if c.attributed]
    findings = Findings(
        verdict="attributed" if attributed else "no-export-matched",
        source=replace(source, frames_registered=found.frames_registered),
        candidates=found.candidates,
        attributed=attributed,
    )
    return findings, found


def _attribute(
    ctx: Context,
    src: Evidence,
    source: TraceSource,
    match: SourceMatch,
    leak: Path,
    source_path: Path,
    info: MediaInfo,
    alpha: float,
) -> _Attribution:
    lo, hi = source.offset_s, source.offset_s + source.duration_s
    with ctx.uow(readonly=True) as uow:
        copies = uow.traces.copies_overlapping(src.id, lo, hi)
        check_copies(uow, src.id, copies, lo, hi)
        # Playback in the browser is a copy too: each viewing is weighed as an export is.
        viewed = uow.viewings.copies_overlapping(src.id, lo, hi)
        check_viewing_copies(uow, src.id, viewed, lo, hi)
        copies = [*copies, *viewed]
    groups = attribution.group_by_mark([attribution.MarkedCopy(ex.id, ex.mark) for ex in copies])
    accs = {g.key: Accumulator(src.media.width, src.media.height, g.params) for g in groups}
    task = ctx.progress.start("register", info.frame_count or None, unit="frame")
    registered = 0
    sample: tuple[float, float] | None = None
    for rf in iter_registered_frames(leak, source_path, match, progress=task.advance):
        if rf.registration is None:
            continue
        registered += 1
        mask = perceptual_mask(rf.orig_y)
        for acc in accs.values():
            acc.add(rf.residual, rf.t_src, mask, rf.weight)
        if sample is None or abs(rf.t_leak - info.duration_s / 2) < abs(
            sample[0] - info.duration_s / 2
        ):
            sample = (rf.t_leak, rf.t_src)
    seed = hashlib.sha256(
        b"custodes-trace-null" + bytes.fromhex(src.sha256) + leak.name.encode()
    ).digest()
    candidates, null = _score(ctx, copies, groups, accs, seed, alpha)
    return _Attribution(
        candidates=candidates,
        frames_registered=registered,
        copies={ex.id: ex for ex in copies},
        frames=_sample_frames(leak, source_path, sample),
        null=null,
    )


def _sample_frames(
    leak: Path, source_path: Path, sample: tuple[float, float] | None
) -> list[JSONObject]:
    """The leaked frame nearest the middle beside its original, for the report."""
    if sample is None:
        return []
    leak_png, aspect = frame_png(leak, sample[0])
    orig_png, _ = frame_png(source_path, sample[1])
    return [
        {
            "leak_t": sample[0],
            "orig_t": sample[1],
            "aspect": aspect,
            "leak_png": base64.b64encode(leak_png).decode(),
            "orig_png": base64.b64encode(orig_png).decode(),
        }
    ]


def _score(
    ctx: Context,
    copies: list[TracedCopy],
    groups: tuple[attribution.MarkGroup, ...],
    accs: dict[str, Accumulator],
    seed: bytes,
    alpha: float,
) -> tuple[list[Candidate], JSONObject]:
    """Each copy's score and false-accusation probability against never-issued keys
    (Bonferroni over every candidate of the trace, whatever its group); best first."""
    secret = ctx.watermark_secret
    all_null: list[float] = []
    scored: list[attribution.GroupScores] = []
    nulls: dict[str, list[float]] = {}
    by_id = {ex.id: ex for ex in copies}
    for g in groups:
        acc = accs[g.key]
        null_scores = [float(x) for x in acc.scores(null_keys(seed, NULL_KEYS))]
        all_null.extend(null_scores)
        if not g.copy_ids:
            continue
        exs = [by_id[i] for i in g.copy_ids]
        keys = [derive_key(secret, ex.id, ex.key_version) for ex in exs]
        scores = {ex.id: float(s) for ex, s in zip(exs, acc.scores(keys), strict=True)}
        nulls.update(dict.fromkeys(scores, null_scores))
        scored.append(attribution.GroupScores(scores, null_scores))
    attributions = attribution.attribute_groups(scored, alpha, model_sf=score_tail_bound)
    candidates = []
    for ex in copies:
        found = attributions[ex.id]
        stated = attribution.state_p(found.p_value)
        candidates.append(
            Candidate(
                export_id=ex.id,
                recipient=ex.recipient,
                score=round(found.score, 2),
                p_value=stated.value,
                attributed=found.attributed,  # decided on the computed value
                exported_by=ex.actor,
                exported_at=ex.created_at,
                purpose=ex.purpose,
                start_s=ex.start_s,
                end_s=ex.end_s,
                kind=ex.kind,
                p_below_floor=stated.below,
                null_keys=len(nulls[ex.id]),
                null_at_or_above=attribution.null_exceedances(found.score, nulls[ex.id]),
            )
        )
    candidates.sort(key=lambda c: -c.score)
    null = attribution.summarize_null(all_null)
    return candidates, {"keys": null.keys, "mean": null.mean, "std": null.std, "max": null.max}


def _record_trace(uc: UseCase, leak: Path, leak_sha: str, findings: Findings) -> tuple[str, int]:
    """Put the trace on record (alerting when it names a copy); its id and audit seq."""
    trace_id = new_id("TR")
    src = findings.source
    case = src.case if src else None
    evidence_id = src.evidence_id if src else None
    seq = uc.record(
        Action.TRACE,
        object_type="trace",
        object_id=trace_id,
        case=case,
        evidence=evidence_id,
        details={
            "leak_sha256": leak_sha,
            "leak_name": leak.name,
            "verdict": findings.verdict,
            "attributed": findings.attributed,
            "offset_s": src.offset_s if src else None,
            **(
                {"held_also": [h.evidence_id for h in findings.held_also]}
                if findings.held_also
                else {}
            ),
            "result_sha256": document_digest(jsonable(findings)),
            **alert_note(
                AlertKind.LEAK_ATTRIBUTED,
                ", ".join(findings.attributed),
                alert=bool(findings.attributed),
            ),
        },
    )
    uc.uow.traces.add(
        Trace(
            id=trace_id,
            actor=uc.actor.username,
            created_at=now_iso(uc.ctx),
            leak_sha256=leak_sha,
            leak_name=leak.name,
            verdict=findings.verdict,
            evidence_id=evidence_id,
            result=jsonable(findings),
            audit_seq=seq,
        )
    )
    if findings.attributed:
        raise_alert(
            uc.ctx,
            uc.uow,
            seq,
            AlertKind.LEAK_ATTRIBUTED,
            uc.actor.username,
            case,
            evidence_id,
            ", ".join(findings.attributed),
        )
    uc.commit()
    return trace_id, seq


def _history(uc: UseCase, findings: Findings, found: _Attribution | None) -> list[JSONObject]:
    """For each copy named: what the audit log says of it, and of its maker's views."""
    if findings.source is None or found is None:
        return []
    events = uc.events(evidence_id=findings.source.evidence_id)
    out: list[JSONObject] = []
    for c in findings.candidates:
        if not c.attributed:
            continue
        copy = found.copies[c.export_id]
        out.append(
            {
                "export_id": c.export_id,
                "recipient": copy.recipient,
                "sha256": copy.output_sha256,
                "events": [
                    e
                    for e in events
                    if e["object_id"] == c.export_id
                    or (e["action"] == "view" and e["actor"] == copy.actor)
                ],
            }
        )
    return out


def _summary(traced: Traced) -> str:
    held = _held_text(traced)
    return f"{_verdict_text(traced)} {held}" if held else _verdict_text(traced)


def _held_text(traced: Traced) -> str:
    if not traced.held_also:
        return ""
    where = ", ".join(f"evidence {h.evidence_id} (case {h.case})" for h in traced.held_also)
    untested = [h.evidence_id for h in traced.held_also if not h.copies_tested]
    text = f"The same footage is held more than once in the vault: also in {where}."
    if untested:
        text += (
            f" The copies of {', '.join(untested)} were not tested; trace again with "
            "--case to test them."
        )
    return text


def _verdict_text(traced: Traced) -> str:
    if traced.verdict == "attributed":
        p_values = [c.p_value for c in traced.candidates]
        names = ", ".join(
            f"{c.recipient} ({c.export_id})"
            if c.kind == "export"
            else f"{c.recipient} (the marked stream of viewing {c.export_id})"
            for c in traced.candidates
            if c.attributed
        )
        stated = attribution.state_p(attribution.trace_false_accusation(p_values))
        return (
            f"This clip was made from the copy given to {names}. The chance that this "
            f"is a false accusation is {odds_text(stated.value, stated.below)}, "
            "provided that the vault's records verify."
        )
    if traced.verdict == "no-export-matched" and traced.source is not None:
        return (
            f"The clip shows evidence {traced.source.evidence_id}, but no exported "
            "copy can be named: it may come from the original or from outside the "
            "export system, or too little of the picture survived."
        )
    return "This footage was not found in the vault."


def _report_doc(
    ctx: Context,
    traced: Traced,
    found: _Attribution | None,
    history: list[JSONObject],
    actor: str,
    alpha: float,
) -> JSONObject:
    """What the report shows: the trace, in words and numbers."""
    n = max(1, len(traced.candidates))
    body: JSONObject = jsonable(traced)
    del body["report"]
    candidates: list[JSONValue] = [
        {
            **jsonable(c),
            "p_text": (f"< {c.p_value:.2g}" if c.p_below_floor else f"{c.p_value:.2g}"),
            "null_text": f"{c.null_at_or_above:,} of {c.null_keys:,}",
            "plain": "an innocent copy scores this high with a chance of "
            + odds_text(c.p_value, c.p_below_floor),
        }
        for c in traced.candidates
    ]
    return {
        **body,
        "candidates": candidates,
        "summary": _summary(traced),
        "actor": actor,
        "created_at": now_iso(ctx),
        "software": __version__,
        "frames": list(found.frames) if found else [],
        "history": list(history),
        "null": found.null if found else {"keys": 0, "mean": 0.0, "std": 1.0, "max": 0.0},
        "alpha_text": f"{alpha:g}",
        "floor_text": f"{attribution.P_FLOOR:g}",
        "per_candidate_text": f"{attribution.candidate_threshold(alpha, n):.2g}",
        "checkpoint": None,
    }


def _write_report(doc: JSONObject, files: ReportFiles) -> None:
    tmp = files.html.with_name(f".{files.html.name}.tmp")
    tmp.write_text(render_html(doc))
    tmp.replace(files.html)
    render_pdf(doc, files.pdf)
