"""Content Credentials (C2PA) for released copies: sign one, and read and check one.

A released video carries a C2PA manifest, signed with the department's certificate
(:mod:`custodes.storage.credentials`), embedded in the MP4 and bound to its bytes by a
BMFF hash: change one byte of the picture or the sound and the manifest no longer
validates. The manifest states what the copy derives from and what was done to it:

* an ingredient (``parentOf``) naming the evidence: its id and the SHA-256 of the
  original, which never leaves the vault;
* ``c2pa.actions.v2``: ``c2pa.opened`` on that ingredient, then one action per
  operation of the copy's lineage (``c2pa.filtered`` naming the faces and the labelled
  regions actually blurred in that copy, and no such action where nothing was;
  ``c2pa.edited`` for muted audio, cut and trimmed time and the forensic mark,
  ``c2pa.resized`` only when the copy's frame size differs from the original's,
  ``c2pa.transcoded``), each with its parameters;
* ``org.custodes.lineage``: the export's full lineage record (source hash, operations
  with their parameters, software versions) and the release it belongs to.

The mark is described with ``c2pa.edited``: C2PA's own ``c2pa.watermarked`` action
requires a soft-binding assertion naming a registered watermark algorithm, which this
mark is not.

Reading (:func:`read_credentials`) reports the validation state in C2PA's terms:
``Trusted`` (signature, hashes and certificate chain good, and the chain ends at one of
the given roots), ``Valid`` (signature and hashes good, signer not among the roots) or
``Invalid`` (something failed: each failure code is listed), and the manifest's claims.
The c2pa library (c2pa-rs through ``c2pa-python``) does the cryptography; its errors
become custodes errors here, at the edge.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from custodes import __version__
from custodes.core.errors import CustodesError, InvalidInput, NotFound
from custodes.core.ports import SigningCredential

__all__ = ["LINEAGE_LABEL", "build_manifest", "read_credentials", "sign_mp4"]

LINEAGE_LABEL = "org.custodes.lineage"
_MIME = "video/mp4"


def _import_c2pa() -> Any:
    import c2pa  # type: ignore[import-untyped, unused-ignore]

    return c2pa


def _actions(operations: list[dict[str, Any]], ingredient: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"action": "c2pa.opened", "parameters": {"ingredientIds": [ingredient]}}
    ]
    for op in operations:
        name = str(op.get("op", ""))
        params = {k: v for k, v in op.items() if k != "op"}
        if name == "redact":
            what = _hidden(params)
            if what is None:
                continue  # nothing was hidden in this copy: nothing is said to be
            how = "boxed" if params.get("style") == "box" else "blurred"
            out.append(
                {"action": "c2pa.filtered", "description": f"{what} {how}", "parameters": params}
            )
        elif name == "audio":
            if "ranges" in params and not params["ranges"]:
                continue  # no audio silenced in this copy's portion
            how = "bleeped" if params.get("mode") == "bleep" else "muted"
            out.append(
                {"action": "c2pa.edited", "description": f"audio {how}", "parameters": params}
            )
        elif name == "trim":
            out.append({"action": "c2pa.edited", "description": "trim", "parameters": params})
        elif name == "scale":
            before = (params.get("from_width"), params.get("from_height"))
            if before == (params.get("width"), params.get("height")):
                continue  # the same size as the original: nothing was resized
            out.append({"action": "c2pa.resized", "parameters": params})
        elif name == "encode":
            out.append({"action": "c2pa.transcoded", "parameters": params})
        elif name == "forensic-watermark":
            out.append(
                {
                    "action": "c2pa.edited",
                    "description": "invisible forensic mark keyed to this copy",
                    "parameters": params,
                }
            )
        elif name == "visible-mark":
            out.append(
                {"action": "c2pa.edited", "description": "visible mark", "parameters": params}
            )
        else:
            out.append({"action": "c2pa.edited", "description": name, "parameters": params})
    return out


def _hidden(params: dict[str, Any]) -> str | None:
    """What a redact operation hid, in words; None when it hid nothing.

    An operation that says what it ``applied`` (faces and regions by label, with their
    frames in this copy) is described by that alone: faces are named only where face
    boxes were drawn, regions by their labels."""
    applied = params.get("applied")
    if isinstance(applied, dict):
        parts = []
        faces = applied.get("faces")
        if isinstance(faces, dict) and (faces.get("frames") or faces.get("boxes")):
            parts.append("faces")
        for r in applied.get("regions") or []:
            if isinstance(r, dict) and (r.get("frames") or r.get("boxes")):
                parts.append(f"region '{r.get('label')}'")
        return ", ".join(parts) or None
    n = int(params.get("regions") or 0)
    parts = (["faces"] if params.get("faces") else []) + (
        [f"{n} drawn region{'s' if n != 1 else ''}"] if n else []
    )
    return " and ".join(parts) or None


def build_manifest(
    *, title: str, lineage: dict[str, Any], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The manifest definition of one copy, from its lineage record."""
    source = lineage["source"]
    ingredient = f"sha256:{source['sha256']}"
    return {
        "claim_generator_info": [{"name": "custodes", "version": __version__}],
        "title": title,
        "format": _MIME,
        "ingredients": [
            {
                "title": f"evidence {source['evidence_id']} (case {source.get('case', '?')})",
                "format": "application/octet-stream",
                "relationship": "parentOf",
                "instance_id": ingredient,
            }
        ],
        "assertions": [
            {
                "label": "c2pa.actions.v2",
                "data": {"actions": _actions(list(lineage.get("operations", [])), ingredient)},
            },
            {"label": LINEAGE_LABEL, "data": {**lineage, **(extra or {})}},
        ],
    }


def _error(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]


def sign_mp4(src: Path, dst: Path, manifest: dict[str, Any], cred: SigningCredential) -> None:
    """Write ``src`` with ``manifest`` embedded and signed to ``dst`` (created, never
    overwritten; removed again if signing fails)."""
    c2pa = _import_c2pa()
    try:
        signer = c2pa.Signer.from_info(
            c2pa.C2paSignerInfo(cred.alg, cred.chain_pem, cred.key_pem, None)
        )
        ctx = c2pa.Context.from_dict(
            {
                "builder": {"thumbnail": {"enabled": False}},
                "trust": {"user_anchors": cred.anchors_pem.decode()},
            }
        )
        builder = c2pa.Builder(manifest, context=ctx)
    except c2pa.C2paError as exc:
        raise InvalidInput(f"cannot prepare the C2PA signer: {_error(exc)}") from exc
    fd = os.open(dst, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    ok = False
    try:
        with open(src, "rb") as s, os.fdopen(fd, "w+b") as d:
            builder.sign(signer, _MIME, s, d)
            d.flush()
            os.fsync(d.fileno())
        ok = True
    except c2pa.C2paError as exc:
        raise CustodesError(f"C2PA signing of {src.name} failed: {_error(exc)}") from exc
    finally:
        if not ok:
            dst.unlink(missing_ok=True)


def read_credentials(path: Path, anchors_pem: bytes | None) -> dict[str, Any]:
    """Read and check the Content Credentials of ``path`` against ``anchors_pem``."""
    c2pa = _import_c2pa()
    if path.is_dir():
        raise InvalidInput(f"{path} is a folder, not a video file")
    if not path.is_file():  # a missing input file is bad input (exit 3), as for ingest
        raise InvalidInput(f"no such file: {path}")
    settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if anchors_pem:
        settings["trust"] = {"trust_anchors": anchors_pem.decode()}
    try:
        ctx = c2pa.Context.from_dict(settings)
        with open(path, "rb") as f:
            reader = c2pa.Reader.try_create(_MIME, f, None, ctx)
            if reader is None:
                raise NotFound(f"{path.name} carries no Content Credentials (no C2PA manifest)")
            store = json.loads(reader.json())
    except c2pa.C2paError as exc:
        raise InvalidInput(f"{path.name}: unreadable C2PA data: {_error(exc)}") from exc
    active = store.get("manifests", {}).get(store.get("active_manifest", ""), {})
    results = store.get("validation_results") or {}
    failures = [
        {"code": f.get("code"), "explanation": f.get("explanation")}
        for f in (results.get("activeManifest") or {}).get("failure", [])
    ]
    for f in store.get("validation_status") or []:
        item = {"code": f.get("code"), "explanation": f.get("explanation")}
        if item not in failures and not str(item["code"]).endswith((".trusted", ".validated")):
            failures.append(item)
    state = str(store.get("validation_state") or ("Invalid" if failures else "Valid"))
    lineage: dict[str, Any] | None = None
    actions: list[dict[str, Any]] = []
    for a in active.get("assertions", []):
        if a.get("label") == LINEAGE_LABEL:
            lineage = a.get("data")
        elif str(a.get("label", "")).startswith("c2pa.actions"):
            actions = [
                {"action": x.get("action"), "description": x.get("description")}
                for x in a.get("data", {}).get("actions", [])
            ]
    sig = active.get("signature_info") or {}
    return {
        "file": str(path),
        "state": state,
        "trusted": state == "Trusted",
        "failures": failures,
        "signer": {
            "issuer": sig.get("issuer"),
            "common_name": sig.get("common_name"),
            "alg": sig.get("alg"),
            "time": sig.get("time"),
        },
        "title": active.get("title"),
        "claim_generator": [g.get("name") for g in active.get("claim_generator_info", [])],
        "ingredients": [
            {"title": i.get("title"), "instance_id": i.get("instance_id")}
            for i in active.get("ingredients", [])
        ],
        "actions": actions,
        "lineage": lineage,
    }
