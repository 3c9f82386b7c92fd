"""`custodes trace`: which evidence, which seconds, which copy, and who had it.

1. The leaked file is hashed and probed (it must be decodable video).
2. Its fingerprint is located among the fingerprints of the evidence the actor may see
   (cached per evidence in the database after the first trace).
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
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from custodes import __version__
from custodes.core import attribution
from custodes.core.authz import AlertKind, CaseFacts, EvidenceFacts, Permission, decide
from custodes.core.custody import Action
from custodes.core.errors import CustodesError, IntegrityFailure, InvalidInput, NotFound
from custodes.core.watermark import (
    Accumulator,
    derive_key,
    null_keys,
    perceptual_mask,
    score_tail_bound,
)
from custodes.media.fingerprint import FORMAT_VERSION, Fingerprint, fingerprint_video
from custodes.media.leak import iter_registered_frames
from custodes.media.locate import SourceMatch, locate
from custodes.media.probe import probe
from custodes.media.stills import frame_png
from custodes.reports.trace import odds_text, render_html, render_pdf
from custodes.services import audit
from custodes.services.common import (
    case_facts,
    case_row,
    check,
    event,
    load_actor,
    new_id,
    now_iso,
    refuse,
    sha256_file,
    verified_original,
)
from custodes.services.context import Context
from custodes.services.evidence import raise_alert
from custodes.storage import tables as t

ALPHA = 1e-6
"""The probability of naming any innocent recipient in one trace."""
NULL_KEYS = 1000

ProgressStart = Callable[[str, int], Callable[[int], None]]


def _no_progress(_label: str, _total: int) -> Callable[[int], None]:
    return lambda _n: None


def _fingerprints(
    vault: Context, rows: list[Any], progress: ProgressStart
) -> dict[str, Fingerprint]:
    """Cached fingerprints of the given evidence, computing (and storing) missing ones."""
    out: dict[str, Fingerprint] = {}
    with vault.uow(readonly=True) as uow:
        cached = {
            r.evidence_id: bytes(r.data)
            for r in uow.conn.execute(
                select(t.fingerprints.c.evidence_id, t.fingerprints.c.data).where(
                    t.fingerprints.c.version == FORMAT_VERSION
                )
            )
        }
    missing = [r for r in rows if r.id not in cached]
    for r in rows:
        if r.id in cached:
            try:
                out[r.id] = Fingerprint.from_bytes(cached[r.id])
                continue
            except CustodesError:
                missing.append(r)  # a damaged cache entry is recomputed
    if missing:
        total = sum(
            round(json.loads(r.media)["duration_s"] * (json.loads(r.media)["fps"] or 30))
            for r in missing
        )
        advance = progress("fingerprint evidence", total)
        for r in missing:
            with contextlib.ExitStack() as held:
                try:
                    path = held.enter_context(verified_original(vault, r.id, r.sha256))
                except (NotFound, IntegrityFailure):
                    continue  # verify reports missing and altered blobs; tracing goes on
                fp = fingerprint_video(path, progress=advance)
            out[r.id] = fp
            with vault.uow() as uow:
                exists = uow.conn.execute(
                    select(t.fingerprints.c.evidence_id).where(
                        (t.fingerprints.c.evidence_id == r.id)
                        & (t.fingerprints.c.version == FORMAT_VERSION)
                    )
                ).first()
                if exists is None:
                    uow.conn.execute(
                        insert(t.fingerprints).values(
                            evidence_id=r.id,
                            version=FORMAT_VERSION,
                            data=fp.to_bytes(),
                            created_at=now_iso(vault),
                        )
                    )
                uow.commit()
    return out


def _reachable_evidence(vault: Context, uow: Any, actor: Any, case_number: str | None) -> list[Any]:
    query = select(t.evidence, t.cases.c.number.label("case_number")).join(
        t.cases, t.cases.c.id == t.evidence.c.case_id
    )
    if case_number is not None:
        query = query.where(t.cases.c.number == case_number)
    rows = uow.conn.execute(query).all()
    facts: dict[str, CaseFacts] = {}
    out = []
    for r in rows:
        if r.case_number not in facts:
            facts[r.case_number] = case_facts(uow, case_row(uow, r.case_number))
        if decide(
            actor, Permission.EVIDENCE_LIST, facts[r.case_number], EvidenceFacts(r.id, None)
        ).allowed:
            out.append(r)
    return out


def _traceable_evidence(
    vault: Context, uow: Any, actor_name: str | None, case_number: str | None
) -> tuple[Any, list[Any]]:
    """The acting user, checked for leak:trace (and the case, when one is named), and
    the evidence they may search."""
    actor = load_actor(vault, uow, actor_name)
    check(vault, uow, actor, Permission.LEAK_TRACE)
    if case_number is not None:
        check(
            vault,
            uow,
            actor,
            Permission.EVIDENCE_LIST,
            case=case_facts(uow, case_row(uow, case_number)),
        )
    return actor, _reachable_evidence(vault, uow, actor, case_number)


def index_evidence(
    vault: Context,
    actor_name: str | None,
    *,
    case_number: str | None = None,
    progress: ProgressStart = _no_progress,
) -> dict[str, Any]:
    """Fingerprint the evidence not yet fingerprinted, ahead of any trace.

    A trace fingerprints what it has not seen before (75 s of CPU per hour of 640x360
    video), so the first trace after a large ingest pays for all of it; running this
    after ingest (a nightly job, say) keeps every trace at the cost of the leak alone.
    The fingerprints are derived data (coarse motion, no picture), recorded with one
    audit event naming the evidence indexed.
    """
    with vault.uow(readonly=True) as uow:
        actor, sources = _traceable_evidence(vault, uow, actor_name, case_number)
        done = {
            r.evidence_id
            for r in uow.conn.execute(
                select(t.fingerprints.c.evidence_id).where(
                    t.fingerprints.c.version == FORMAT_VERSION
                )
            )
        }
    todo = [r for r in sources if r.id not in done]
    made = _fingerprints(vault, todo, progress) if todo else {}
    indexed = sorted(made)
    if indexed:
        with vault.uow() as uow:
            audit.record(
                uow,
                event(
                    vault,
                    actor.username,
                    Action.INDEX,
                    object_type="fingerprints",
                    case_number=case_number,
                    details={"evidence": indexed, "format_version": FORMAT_VERSION},
                ),
            )
            audit.commit(uow, vault)
    return {
        "indexed": indexed,
        "already_indexed": len(sources) - len(todo),
        "evidence": len(sources),
    }


def trace_leak(
    vault: Context,
    actor_name: str | None,
    path: Path,
    *,
    case_number: str | None = None,
    report_dir: Path | None = None,
    alpha: float = ALPHA,
    progress: ProgressStart = _no_progress,
) -> dict[str, Any]:
    if not (0 < alpha < 1):
        raise InvalidInput("alpha must be between 0 and 1")
    with vault.uow(readonly=True) as uow:
        actor, sources = _traceable_evidence(vault, uow, actor_name, case_number)
    if not path.is_file():
        raise InvalidInput(
            f"{path} is a folder, not a video file" if path.is_dir() else f"no such file: {path}"
        )
    if report_dir is not None and not report_dir.is_dir():
        raise InvalidInput(
            f"{report_dir} is a file, not a folder"
            if report_dir.exists()
            else f"no such folder: {report_dir}"
        )
    leak_sha, leak_size = sha256_file(path)
    info = probe(path)

    by_id = {r.id: r for r in sources}
    fps = _fingerprints(vault, sources, progress)
    leak_fp = fingerprint_video(path, progress=progress("fingerprint leak", info.frame_count or 0))
    matches = locate(leak_fp, fps) if fps else []
    match: SourceMatch | None = matches[0] if matches else None

    result: dict[str, Any] = {
        "verdict": "source-not-found",
        "source": None,
        "candidates": [],
        "attributed": [],
    }
    report: dict[str, Any] = {"frames": [], "history": [], "null": None}
    if match is not None:
        src = by_id[match.source_id]
        result["source"] = {
            "evidence_id": src.id,
            "case": src.case_number,
            "offset_s": round(match.source_start_s, 3),
            "duration_s": round(match.source_end_s - match.source_start_s, 3)
            if math.isfinite(match.source_end_s)
            else round(info.duration_s * match.rate, 3),
            "rate": round(match.rate, 4),
            "match_score": round(match.score, 3),
            "sha256": src.sha256,
        }
        try:
            with verified_original(vault, src.id, src.sha256) as source_path:
                _attribute(
                    vault, src, match, path, source_path, info, alpha, result, report, progress
                )
        except (NotFound, IntegrityFailure) as exc:  # the located original is gone or altered
            with vault.uow() as uow:
                refuse(
                    vault,
                    uow,
                    actor.username,
                    exc,
                    attempted=Permission.LEAK_TRACE.value,
                    case_number=src.case_number,
                    evidence_id=src.id,
                )
    trace_id = new_id("TR")
    with vault.uow() as uow:
        ev = result["source"]["evidence_id"] if result["source"] else None
        case = result["source"]["case"] if result["source"] else None
        seq = audit.record(
            uow,
            event(
                vault,
                actor.username,
                Action.TRACE,
                object_type="trace",
                object_id=trace_id,
                case_number=case,
                evidence_id=ev,
                details={
                    "leak_sha256": leak_sha,
                    "leak_name": path.name,
                    "verdict": result["verdict"],
                    "attributed": result["attributed"],
                    "offset_s": result["source"]["offset_s"] if result["source"] else None,
                },
            ),
        )
        uow.conn.execute(
            insert(t.traces).values(
                id=trace_id,
                actor=actor.username,
                created_at=now_iso(vault),
                leak_sha256=leak_sha,
                leak_name=path.name,
                verdict=result["verdict"],
                evidence_id=ev,
                result=json.dumps(result, sort_keys=True),
                audit_seq=seq,
            )
        )
        if result["attributed"]:
            raise_alert(
                vault,
                uow,
                seq,
                AlertKind.LEAK_ATTRIBUTED,
                actor.username,
                case,
                ev,
                ", ".join(result["attributed"]),
            )
        audit.commit(uow, vault)
        if result["attributed"]:
            report["history"] = _history(uow, result)
    result["trace_id"] = trace_id
    result["audit_seq"] = seq
    result["leak"] = {
        "name": path.name,
        "sha256": leak_sha,
        "size": leak_size,
        "duration_s": info.duration_s,
        "width": info.width,
        "height": info.height,
    }
    out_dir = report_dir or Path.cwd()
    html_path = out_dir / f"{trace_id}.html"
    pdf_path = out_dir / f"{trace_id}.pdf"
    doc = _report_doc(result, report, actor.username, vault, alpha)
    tmp = html_path.with_name(f".{html_path.name}.tmp")
    tmp.write_text(render_html(doc))
    tmp.replace(html_path)
    render_pdf(doc, pdf_path)
    result["report"] = {"html": str(html_path.resolve()), "pdf": str(pdf_path.resolve())}
    return result


def _attribute(
    vault: Context,
    src: Any,
    match: SourceMatch,
    path: Path,
    source_path: Path,
    info: Any,
    alpha: float,
    result: dict[str, Any],
    report: dict[str, Any],
    progress: ProgressStart,
) -> None:
    media = json.loads(src.media)
    lo, hi = (
        result["source"]["offset_s"],
        result["source"]["offset_s"] + result["source"]["duration_s"],
    )
    with vault.uow(readonly=True) as uow:
        exports = uow.conn.execute(
            select(t.exports)
            .where(
                (t.exports.c.evidence_id == src.id)
                & (t.exports.c.start_s < hi)
                & (t.exports.c.end_s > lo)
            )
            .order_by(t.exports.c.created_at)
        ).all()
    groups = attribution.group_by_mark(
        [attribution.MarkedCopy(ex.id, _mark_params(ex)) for ex in exports]
    )
    accs = {g.key: Accumulator(int(media["width"]), int(media["height"]), g.params) for g in groups}
    advance = progress("register", info.frame_count or 0)
    registered = 0
    sample: Any = None
    for rf in iter_registered_frames(path, source_path, match, progress=advance):
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
    result["source"]["frames_registered"] = registered
    if sample is not None:
        leak_png, aspect = frame_png(path, sample[0])
        orig_png, _ = frame_png(source_path, sample[1])
        report["frames"] = [
            {
                "leak_t": sample[0],
                "orig_t": sample[1],
                "aspect": aspect,
                "leak_png": base64.b64encode(leak_png).decode(),
                "orig_png": base64.b64encode(orig_png).decode(),
            }
        ]
    secret = vault.watermark_secret
    seed = hashlib.sha256(
        b"custodes-trace-null" + bytes.fromhex(src.sha256) + path.name.encode()
    ).digest()
    candidates: list[dict[str, Any]] = []
    all_null: list[float] = []
    scored: list[attribution.GroupScores] = []
    by_id = {ex.id: ex for ex in exports}
    for g in groups:
        acc = accs[g.key]
        null_scores = [float(x) for x in acc.scores(null_keys(seed, NULL_KEYS))]
        all_null.extend(null_scores)
        if not g.copy_ids:
            continue
        exs = [by_id[i] for i in g.copy_ids]
        keys = [derive_key(secret, ex.id, ex.key_version) for ex in exs]
        scores = {ex.id: float(s) for ex, s in zip(exs, acc.scores(keys), strict=True)}
        scored.append(attribution.GroupScores(scores, null_scores))
    # Bonferroni over every candidate of the trace, whatever its group.
    attributions = attribution.attribute_groups(scored, alpha, model_sf=score_tail_bound)
    for ex in exports:
        a = attributions[ex.id]
        candidates.append(
            {
                "export_id": ex.id,
                "recipient": ex.recipient,
                "score": round(a.score, 2),
                "p_value": a.p_value,
                "attributed": a.attributed,
                "exported_by": ex.actor,
                "exported_at": ex.created_at,
                "purpose": ex.purpose,
                "start_s": ex.start_s,
                "end_s": ex.end_s,
            }
        )
    candidates.sort(key=lambda c: -c["score"])
    result["candidates"] = candidates
    result["attributed"] = [c["export_id"] for c in candidates if c["attributed"]]
    result["verdict"] = "attributed" if result["attributed"] else "no-export-matched"
    null = attribution.summarize_null(all_null)
    report["null"] = {"keys": null.keys, "mean": null.mean, "std": null.std, "max": null.max}


def _mark_params(export: Any) -> dict[str, Any]:
    """The parameters of the forensic mark an export carries, from its lineage."""
    params: dict[str, Any] = next(
        op["params"]
        for op in json.loads(export.lineage)["operations"]
        if op["op"] == "forensic-watermark"
    )
    return params


def _history(uow: Any, result: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    events = audit.list_events(uow.conn, evidence_id=result["source"]["evidence_id"])
    for c in result["candidates"]:
        if not c["attributed"]:
            continue
        row = uow.conn.execute(select(t.exports).where(t.exports.c.id == c["export_id"])).one()
        out.append(
            {
                "export_id": c["export_id"],
                "recipient": row.recipient,
                "sha256": row.output_sha256,
                "events": [
                    e
                    for e in events
                    if e["object_id"] == c["export_id"]
                    or (e["action"] == "view" and e["actor"] == row.actor)
                ],
            }
        )
    return out


def _report_doc(
    result: dict[str, Any],
    report: dict[str, Any],
    actor: str,
    vault: Context,
    alpha: float,
) -> dict[str, Any]:
    n = max(1, len(result["candidates"]))
    if result["verdict"] == "attributed":
        p_values = [c["p_value"] for c in result["candidates"]]
        names = ", ".join(
            f"{c['recipient']} ({c['export_id']})" for c in result["candidates"] if c["attributed"]
        )
        summary = (
            f"This clip was made from the copy given to {names}. The chance that this "
            f"is a false accusation is "
            f"{odds_text(attribution.trace_false_accusation(p_values))}."
        )
    elif result["verdict"] == "no-export-matched":
        summary = (
            f"The clip shows evidence {result['source']['evidence_id']}, but no exported "
            "copy can be named: it may come from the original or from outside the "
            "export system, or too little of the picture survived."
        )
    else:
        summary = "This footage was not found in the vault."
    candidates = [
        dict(
            c,
            plain=("an innocent copy scores this high with a chance of " + odds_text(c["p_value"])),
        )
        for c in result["candidates"]
    ]
    return {
        **result,
        "candidates": candidates,
        "summary": summary,
        "actor": actor,
        "created_at": now_iso(vault),
        "software": __version__,
        "frames": report["frames"],
        "history": report["history"],
        "null": report["null"] or {"keys": 0, "mean": 0.0, "std": 1.0, "max": 0.0},
        "alpha_text": f"{alpha:g}",
        "per_candidate_text": f"{attribution.candidate_threshold(alpha, n):.2g}",
        "checkpoint": None,
    }
