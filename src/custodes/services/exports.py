"""Exports: a derivative of evidence made for one named recipient.

The original never leaves the vault. Each export is trimmed and scaled as asked, carries
an invisible forensic watermark keyed to the export (from the vault secret and the
export id, so nothing per export is stored), and by default a visible line naming the
recipient. The export is recorded with its lineage and audited. A release's copies also
carry signed Content Credentials (C2PA) stating that lineage.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
from sqlalchemy import insert, select

from custodes import __version__
from custodes.core.authz import AlertKind, EvidenceFacts, Permission
from custodes.core.custody import Action
from custodes.core.errors import CustodesError, CustodyConflict, InvalidInput, NotFound
from custodes.core.watermark import MarkParams, derive_key
from custodes.media.provenance import build_manifest, sign_mp4
from custodes.media.render import EncodeSettings, output_size, render
from custodes.processes import pid_alive
from custodes.services import audit
from custodes.services.common import (
    all_case_facts,
    case_facts,
    case_row,
    check,
    check_writable_folder,
    event,
    evidence_row,
    load_actor,
    new_id,
    now_iso,
    refuse,
    sha256_file,
    verified_original,
)
from custodes.services.context import Context
from custodes.services.events import check_record_filter, hidden_cases
from custodes.services.evidence import alert_if_flagged
from custodes.storage import tables as t

KEY_VERSION = 1
MARK_SCHEME = "custodes-luma-spread-spectrum/1"


def software_versions() -> dict[str, Any]:
    libs = {name: ".".join(map(str, v)) for name, v in av.library_versions.items()}
    return {"custodes": __version__, "pyav": av.__version__, "ffmpeg": libs}


def _check_range(start: float | None, end: float | None, duration: float) -> tuple[float, float]:
    s = 0.0 if start is None else float(start)
    e = duration if end is None else float(end)
    for name, v in (("start", s), ("end", e)):
        if not math.isfinite(v):
            raise InvalidInput(f"{{{name}}} must be a number of seconds, got {v}", field=name)
    if not (0 <= s < duration):
        raise InvalidInput(
            f"{{start}} {s:g} is outside the recording (0 to {duration:.2f} s)", field="start"
        )
    if e <= s:
        raise InvalidInput(f"{{end}} {e:g} must be after {{start}} {s:g}", fields=("end", "start"))
    if e > duration + 1e-6:
        raise InvalidInput(
            f"{{end}} {e:g} is past the end of the recording ({duration:.2f} s)", field="end"
        )
    return s, e


def _check_text(value: str, field: str, limit: int) -> str:
    value = " ".join(value.split())
    if not value:
        raise InvalidInput(f"{{{field}}} must not be empty", field=field)
    if len(value) > limit or not value.isprintable():
        raise InvalidInput(
            f"{{{field}}} must be printable text of at most {limit} characters", field=field
        )
    return value


# What an export killed outright (SIGKILL, power loss) leaves in its output folder: the
# hidden copy under its pending name, its C2PA-signed twin, or the encoder's part file,
# each naming the process that made it.
_LEFTOVER = re.compile(
    r"^\..+\.EX-[A-Z2-7]{12}\.(\d+)\.pending(?:\.c2pa|\.\d+\.[0-9a-f]{8}\.part)?$"
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


def export_evidence(
    vault: Context,
    actor_name: str | None,
    evidence_id: str,
    *,
    recipient: str,
    purpose: str,
    start: float | None = None,
    end: float | None = None,
    out: Path | None = None,
    height: int | None = None,
    visible_mark: bool = True,
    settings: EncodeSettings = EncodeSettings(),
    params: MarkParams | None = None,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    derived_from: tuple[Path, list[dict[str, Any]]] | None = None,
    content_credentials: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Render and record one export.

    ``derived_from`` = (path, operations) renders from a derivative of the evidence that
    keeps its timeline (a redacted copy) instead of the original; its operations are
    recorded first in the export's lineage. The caller checks that file's hash (and the
    original's) before; without it, the original is re-hashed here before it is read.

    ``content_credentials`` (a dict, possibly empty, of facts to add to the manifest,
    such as the release it belongs to) embeds a signed C2PA manifest stating the copy's
    lineage (:mod:`custodes.media.provenance`); the recorded hash is the signed file's.
    """
    params = params or MarkParams()
    export_id = new_id("EX")
    held = contextlib.ExitStack()  # the original, materialised until the copy is rendered
    with vault.uow() as uow:
        actor = load_actor(vault, uow, actor_name)
        attempt: dict[str, Any] = {
            "attempted": Permission.EVIDENCE_EXPORT.value,
            "evidence_id": evidence_id,
        }
        try:
            row = evidence_row(uow, evidence_id)
        except NotFound as exc:
            refuse(vault, uow, actor.username, exc, **attempt)
        facts = case_facts(uow, case_row(uow, row.case_number))
        attempt["case_number"] = row.case_number
        try:
            recipient = _check_text(recipient, "recipient", 128)
            purpose = _check_text(purpose, "purpose", 2000)
        except InvalidInput as exc:
            refuse(vault, uow, actor.username, exc, **attempt)
        decision = check(
            vault,
            uow,
            actor,
            Permission.EVIDENCE_EXPORT,
            case=facts,
            evidence=EvidenceFacts(row.id, row.officer),
            reason=purpose,
        )
        media = json.loads(row.media)
        try:
            s, e = _check_range(start, end, float(media["duration_s"]))
            width, height_px = output_size(int(media["width"]), int(media["height"]), height)
            given = out or Path(f"{export_id}.mp4")
            if given.is_symlink():  # dangling or not: a copy goes where it is named
                raise CustodyConflict(f"{given} is a symbolic link; exports never follow one")
            dest = given.resolve()
            if dest.suffix.lower() != ".mp4":
                raise InvalidInput(f"{dest.name}: exports are MP4 files (use a .mp4 name)")
            if dest.exists():
                raise CustodyConflict(f"{dest} exists; exports never overwrite a file")
            check_writable_folder(dest.parent)
            sweep_leftovers(dest.parent)
            secret = vault.watermark_secret  # refused here, on record, if it is missing
            credential = vault.content_credential() if content_credentials is not None else None
            # The original is re-hashed when it is what is read; a derivative's caller (a
            # release) has already checked it and the original it was made from.
            source = (
                derived_from[0]
                if derived_from is not None
                else held.enter_context(verified_original(vault, row.id, row.sha256))
            )
        except CustodesError as exc:
            held.close()
            refuse(vault, uow, actor.username, exc, reason=purpose, **attempt)
        uow.conn.rollback()  # release the database while the copy renders

    with held:
        key = derive_key(secret, export_id, KEY_VERSION)
        text = f"COPY FOR {recipient}  {export_id}  {vault.clock.now():%Y-%m-%d}"
        if on_total is not None:
            on_total(max(1, round((e - s) * float(media.get("fps") or 30))))
        # Rendered under a hidden name, put on record, and only then given its real name:
        # a kill at any point leaves no copy that is not on record.
        pending = dest.with_name(f".{dest.name}.{export_id}.{os.getpid()}.pending")
        # Imported here: numba takes most of a second to load, which no other command needs.
        from custodes.media.fastmark import FastEmbedder

        result = render(
            source,
            pending,
            start_s=s,
            end_s=e,
            height=height,
            marker=FastEmbedder(key, width, height_px, params),
            visible_text=text if visible_mark else None,
            settings=settings,
            progress=progress,
        )
    signed = pending.with_name(pending.name + ".c2pa")
    try:
        lineage: dict[str, Any] = {
            "source": {"evidence_id": row.id, "sha256": row.sha256, "case": row.case_number},
            "operations": [
                *(derived_from[1] if derived_from is not None else []),
                {"op": "trim", "start_s": s, "end_s": result.end_s},
                {"op": "scale", "width": result.width, "height": result.height},
                {
                    "op": "forensic-watermark",
                    "scheme": MARK_SCHEME,
                    "key_version": KEY_VERSION,
                    "params": params.to_dict(),
                },
                *([{"op": "visible-mark", "text": text}] if visible_mark else []),
                {"op": "encode", **settings.to_dict()},
            ],
            "frames": result.frames,
            "audio_packets_skipped": result.audio_packets_skipped,
            "software": software_versions(),
        }
        if credential is not None:
            manifest = build_manifest(
                title=dest.name,
                lineage=lineage,
                extra={
                    "export_id": export_id,
                    "recipient": recipient,
                    **(content_credentials or {}),
                },
            )
            sign_mp4(pending, signed, manifest, credential)
            os.replace(signed, pending)
            lineage["operations"].append(
                {
                    "op": "c2pa-manifest",
                    "alg": credential.alg,
                    "signer": credential.subject,
                    "cert_sha256": credential.cert_sha256,
                    "origin": credential.origin,
                }
            )
        digest, size = sha256_file(pending)
        with vault.uow() as uow:
            seq = audit.record(
                uow,
                event(
                    vault,
                    actor.username,
                    Action.EXPORT,
                    object_type="export",
                    object_id=export_id,
                    case_number=row.case_number,
                    evidence_id=row.id,
                    reason=purpose,
                    details={
                        "recipient": recipient,
                        "start_s": s,
                        "end_s": result.end_s,
                        "output_sha256": digest,
                        "width": result.width,
                        "height": result.height,
                        "visible_mark": visible_mark,
                        "key_version": KEY_VERSION,
                        "content_credentials": credential is not None,
                    },
                ),
            )
            uow.conn.execute(
                insert(t.exports).values(
                    id=export_id,
                    evidence_id=row.id,
                    recipient=recipient,
                    purpose=purpose,
                    actor=actor.username,
                    created_at=now_iso(vault),
                    start_s=s,
                    end_s=result.end_s,
                    width=result.width,
                    height=result.height,
                    visible_mark=visible_mark,
                    key_version=KEY_VERSION,
                    output_sha256=digest,
                    output_size=size,
                    lineage=json.dumps(lineage, sort_keys=True),
                    audit_seq=seq,
                )
            )
            alert_if_flagged(
                vault, uow, decision, seq, AlertKind.SENSITIVE_EXPORT, actor.username, row, purpose
            )
            audit.commit(uow, vault)
        os.replace(pending, dest)
    finally:
        pending.unlink(missing_ok=True)
        signed.unlink(missing_ok=True)
    return {
        "export_id": export_id,
        "path": str(dest),
        "sha256": digest,
        "evidence_id": row.id,
        "recipient": recipient,
        "start_s": s,
        "end_s": result.end_s,
        "frames": result.frames,
        "width": result.width,
        "height": result.height,
    }


def list_exports(
    vault: Context, actor_name: str | None, evidence_id: str | None = None
) -> list[dict[str, Any]]:
    """Exports on record; those of a case whose record the actor may not read (a case
    under internal-affairs investigation) are left out, or refused when named."""
    with vault.uow(readonly=True) as uow:
        actor = load_actor(vault, uow, actor_name)
        check(vault, uow, actor, Permission.AUDIT_READ)
        facts = all_case_facts(uow)
        check_record_filter(vault, uow, actor, facts, evidence_id=evidence_id)
        query = (
            select(t.exports)
            .join(t.evidence, t.evidence.c.id == t.exports.c.evidence_id)
            .join(t.cases, t.cases.c.id == t.evidence.c.case_id)
            .order_by(t.exports.c.created_at)
        )
        if evidence_id is not None:
            query = query.where(t.exports.c.evidence_id == evidence_id)
        hidden = hidden_cases(actor, facts)
        if hidden:
            query = query.where(t.cases.c.number.not_in(sorted(hidden)))
        rows = uow.conn.execute(query).all()
    return [
        {
            "export_id": r.id,
            "evidence_id": r.evidence_id,
            "recipient": r.recipient,
            "purpose": r.purpose,
            "actor": r.actor,
            "created_at": r.created_at,
            "start_s": r.start_s,
            "end_s": r.end_s,
            "sha256": r.output_sha256,
            "lineage": json.loads(r.lineage),
        }
        for r in rows
    ]
