"""``custodes provenance``: check a copy's Content Credentials (C2PA)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from custodes import bootstrap
from custodes.cli import output
from custodes.cli.state import show, state
from custodes.core.errors import IntegrityFailure, InvalidInput


def provenance_cmd(
    ctx: typer.Context,
    file: Annotated[Path | None, typer.Argument(help="A released copy (MP4) to check.")] = None,
    anchors: Annotated[
        Path | None,
        typer.Option(
            "--anchors",
            help="PEM root certificate(s) to trust: the root the department publishes, "
            "obtained out of band, never from the package (default: this vault's own "
            "root, if any).",
        ),
    ] = None,
    root: Annotated[
        bool, typer.Option("--root", help="Print this vault's root certificate (to publish).")
    ] = False,
) -> None:
    """Read and check a copy's Content Credentials (C2PA): signer, lineage, redactions.

    Exit 0 only when the manifest validates and its signer chains to a trusted root;
    exit 7 when it is invalid (the file was changed after signing), untrusted, or signed
    but not checked against any trust anchor (none given, and no vault here)."""
    from custodes.services import provenance as provenance_svc

    st = state(ctx)
    if root and file is not None:
        raise InvalidInput("give either a FILE to check or --root, not both")
    if root:
        pem = provenance_svc.vault_root(st.vault)
        if st.json:
            output.emit_json({"root_pem": pem.decode()})
        else:
            sys.stdout.write(pem.decode())
        return
    if file is None:
        raise InvalidInput("give a FILE to check, or --root")
    # Reading a copy opens no vault: the trust anchors come from the settings.
    report = provenance_svc.check_copy(
        bootstrap.key_store(st.settings),
        file,
        bootstrap.read_trust_anchors(anchors) if anchors is not None else None,
    )
    lin = report.lineage or {}
    src = lin.get("source")
    src = src if isinstance(src, dict) else {}
    signer = report.signer
    unchecked = report.state == "Valid" and report.checked_against is None
    against = {"given": "the root given", "vault": "this vault's own root"}.get(
        report.checked_against or "", "no trust anchor"
    )
    lines = [
        f"{file.name}: Content Credentials [bold]{report.state}[/]"
        + (
            " (signed; the signer was not checked against a trust anchor)"
            if unchecked
            else f" (checked against {against})"
        ),
        f"  signed by: {signer.common_name} ({signer.issuer}), "
        f"{signer.alg}, {signer.time or 'no timestamp'}",
        f"  derives from: evidence {src.get('evidence_id', '?')} (case {src.get('case', '?')}), "
        f"original sha256 {src.get('sha256', '?')}",
        *(
            f"  {a.action}: {a.description}" if a.description else f"  {a.action}"
            for a in report.actions
        ),
        *(f"  [red]failure[/] {f.code}: {f.explanation}" for f in report.failures),
    ]
    show(st, report, "\n".join(lines))
    if report.state == "Invalid":
        codes = ", ".join(str(f.code) for f in report.failures[:3])
        raise IntegrityFailure(f"{file.name}: Content Credentials do not validate ({codes})")
    if unchecked:
        raise IntegrityFailure(
            f"{file.name}: signed, but the signer was not checked against a trust anchor "
            "(none given: pass the root the department publishes with --anchors)"
        )
    if not report.trusted:
        raise IntegrityFailure(
            f"{file.name}: signature valid, but its signer does not chain to {against} "
            "(pass the root the department publishes with --anchors)"
        )
