"""``custodes redact``: redacted derivatives of evidence; ``custodes redaction accept``:
a person's acceptance of one, which a release needs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from custodes.cli import output
from custodes.cli.parsing import parse_ranges
from custodes.cli.region import parse_region
from custodes.cli.state import show, state

app = typer.Typer(
    help="Review redacted copies: a person accepts one as covering redaction kinds.",
    no_args_is_help=True,
)


def parse_mute(texts: Sequence[str]) -> tuple[tuple[float, float], ...]:
    """``--mute START-END`` seconds, as many as given (whether each lies within the
    recording is for the use case to decide, on record)."""
    return tuple(parse_ranges(texts, "mute"))


def redact_cmd(
    ctx: typer.Context,
    evidence_id: str,
    faces: Annotated[bool, typer.Option("--faces", help="Blur every face, tracked.")] = False,
    region: Annotated[
        list[str] | None,
        typer.Option(help="A box to track and blur: T:X,Y,W,H[:label] (seconds, pixels)."),
    ] = None,
    mute: Annotated[
        list[str] | None,
        typer.Option(help="Mute the audio over START-END seconds, within the recording."),
    ] = None,
    bleep: Annotated[bool, typer.Option(help="A tone instead of silence.")] = False,
    style: Annotated[str, typer.Option(help="blur or box.")] = "blur",
    sidecar: Annotated[
        Path | None, typer.Option(help="A reviewed boxes file to apply instead of detecting.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output .mp4 (default EV-...-redacted.mp4).")
    ] = None,
    face_model: Annotated[
        str,
        typer.Option(
            help="centerface (the default), centerface-int8 (plans 1.4-2x faster) or"
            " retinaface (plans 1.7-1.9x faster); both faster ones miss faces of 8-12 px"
            " (bench/bench_redact.py). float32 and int8 are older names of the first two."
        ),
    ] = "centerface",
    reason: Annotated[
        str | None,
        typer.Option(help="Why (recorded; required on flagged cases, which alert IA)."),
    ] = None,
) -> None:
    """Make a redacted derivative (the original never changes), with a sidecar to review."""
    from custodes.services import redaction as red_svc

    st = state(ctx)
    cmd = red_svc.RedactEvidence(
        evidence_id=evidence_id,
        out=out or Path(f"{evidence_id}-redacted.mp4"),
        faces=faces,
        regions=tuple(parse_region(r) for r in region or ()),
        mute=parse_mute(mute or ()),
        bleep=bleep,
        style=style,
        sidecar=sidecar,
        face_model=face_model,
        reason=reason,
    )
    with output.progress_sink(st.json) as sink:
        result = red_svc.redact_evidence(st.acting(sink), st.actor, cmd)
    show(
        st,
        result,
        f"Redacted copy {result.derivative_id}: {result.path} "
        f"({result.frames_redacted} frames redacted); review {result.contact_sheet}",
    )


@app.command("accept")
def redaction_accept(
    ctx: typer.Context,
    derivative_id: str,
    covers: Annotated[
        list[str],
        typer.Option(
            "--covers",
            help="The redaction kinds the copy covers, comma-separated or repeated: faces, "
            "bystander-faces, minors, victims (faces searched for, or regions labelled so), "
            "plates (regions labelled plate), interior (regions labelled interior), audio "
            "(muted or bleeped).",
        ),
    ],
    reason: Annotated[
        str | None,
        typer.Option(
            help="Why (recorded); required where the copy hides nothing of a kind named, "
            "e.g. no faces appear in the recording."
        ),
    ] = None,
) -> None:
    """State, on record, that you reviewed a redacted copy (RD-...) and what it covers.

    A release uses only redactions a person accepted, covering every kind its decision
    requires."""
    from custodes.services import acceptance

    st = state(ctx)
    cmd = acceptance.AcceptRedaction(derivative_id, covers=tuple(covers), reason=reason)
    result = acceptance.accept_redaction(st.acting(), st.actor, cmd)
    show(
        st,
        result,
        f"Redaction {result.derivative_id} of {result.evidence_id} accepted by "
        f"{result.accepted_by} as covering {', '.join(result.covers)}",
    )
