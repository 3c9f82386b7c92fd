"""``custodes audit``: list events, prove them, check proofs, print what is published."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from custodes import bootstrap
from custodes.cli import output
from custodes.cli.state import State, show, state
from custodes.core.errors import InvalidInput
from custodes.core.jsontext import JSONObject
from custodes.services import audit as audit_svc
from custodes.services import events as event_svc
from custodes.services import proofs as proof_svc

app = typer.Typer(
    help="The audit log: list events, prove them, check proofs.", invoke_without_command=True
)


@app.callback()
def audit_list(
    ctx: typer.Context,
    evidence: Annotated[str | None, typer.Option("--evidence", help="Only this evidence.")] = None,
    case: Annotated[str | None, typer.Option("--case", help="Only this case.")] = None,
    limit: Annotated[
        int | None, typer.Option(help="Only the last N events (N of 1 or more).")
    ] = None,
) -> None:
    """List audit events (with no subcommand)."""
    if ctx.invoked_subcommand is not None:
        return
    st = state(ctx)
    rows = event_svc.list_audit(
        st.vault, st.actor, evidence_id=evidence, case_number=case, limit=limit
    )
    if st.json:
        output.emit_json(rows)
    else:
        output.table(
            "Audit log",
            ["seq", "at", "actor", "action", "case", "evidence", "reason"],
            [[r.seq, r.at[:19], r.actor, r.action, r.case, r.evidence, r.reason] for r in rows],
        )


@app.command("prove")
def audit_prove(
    ctx: typer.Context,
    seq: int,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the proof to this new file (never overwritten)."),
    ] = None,
    tree_size: Annotated[
        int | None, typer.Option(help="Prove against this signed checkpoint size.")
    ] = None,
) -> None:
    """An inclusion proof of event SEQ, checkable with only the vault's public key."""
    st = state(ctx)
    if out is not None:
        audit_svc.check_new_file(out)
    bundle = proof_svc.prove_inclusion(st.vault, st.actor, seq, tree_size)
    _emit_bundle(st, bundle, out)


@app.command("consistency")
def audit_consistency(
    ctx: typer.Context,
    old_size: int,
    new_size: Annotated[int | None, typer.Argument()] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the proof to this new file (never overwritten)."),
    ] = None,
) -> None:
    """A consistency proof that checkpoint OLD_SIZE is a prefix of NEW_SIZE (default newest)."""
    st = state(ctx)
    if out is not None:
        audit_svc.check_new_file(out)
    bundle = proof_svc.prove_consistency(st.vault, st.actor, old_size, new_size)
    _emit_bundle(st, bundle, out)


def _emit_bundle(st: State, bundle: JSONObject, out: Path | None) -> None:
    if out is None:
        output.emit_json(bundle)
        return
    audit_svc.dump_json(bundle, out)
    show(st, {"path": str(out), "format": bundle["format"]}, f"Proof written to {out}.")


MAX_PROOF_BYTES = 16 * 1024 * 1024  # a proof of a billion-event log is a few kilobytes


@app.command("verify-proof")
def audit_verify_proof(
    ctx: typer.Context,
    file: Path,
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            help="The vault's public key (vkey string or a file holding it). Without it, the "
            "key of the vault at --home is used.",
        ),
    ] = None,
) -> None:
    """Check a proof file with nothing but the public key. Needs no vault database."""
    from custodes.core import jsontext

    st = state(ctx)
    try:
        if file.stat().st_size > MAX_PROOF_BYTES:
            raise InvalidInput(f"not a proof bundle: {file} is larger than {MAX_PROOF_BYTES} bytes")
        data = file.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"no such file: {file}") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {file}: {exc.strerror or exc}") from exc
    bundle = jsontext.loads(data, "not a proof bundle", max_bytes=MAX_PROOF_BYTES)
    if key is None:
        published = bootstrap.published_vkey(st.settings)
        if published is None:
            raise InvalidInput("no public key: pass --key")
        vkey_str = published
    else:
        key_path = Path(key)
        try:
            vkey_str = key_path.read_text().strip() if key_path.is_file() else key
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"cannot read the key file {key_path}: {exc}") from exc
    result = proof_svc.verify_bundle(bundle, vkey_str, bootstrap.verify_signature)
    show(st, result, f"[green]Proof verifies[/]: {result.kind} in {result.origin}.")


@app.command("pubkey")
def audit_pubkey(ctx: typer.Context) -> None:
    """Print the vault's public key (a signed-note verifier key)."""
    st = state(ctx)
    vkey_str = bootstrap.published_vkey(st.settings)
    if vkey_str is None:
        raise InvalidInput(f"the vault at {st.settings.home} publishes no public key")
    if st.json:
        output.emit_json({"vkey": vkey_str})
    else:
        print(vkey_str)


@app.command("checkpoint")
def audit_checkpoint(ctx: typer.Context) -> None:
    """Print the newest signed checkpoint (C2SP tlog-checkpoint, signed note)."""
    st = state(ctx)
    note = audit_svc.published_checkpoint(bootstrap.checkpoint_store(st.settings)).decode()
    if st.json:
        output.emit_json({"checkpoint": note})
    else:
        sys.stdout.write(note)
