"""The letter to a requester, in plain words, as HTML and PDF."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fpdf import FPDF

from custodes.reports.trace import _env, _latin

OUTCOME_SENTENCES = {
    "release": "The recordings you asked for are released in full.",
    "partial": "The recordings are released in part: some portions are redacted or limited, "
    "as set out below.",
    "hold": "We cannot release the recordings at this time. The reasons, and when we will look "
    "again, are below.",
    "deny": "We must deny your request, for the reasons below.",
}


OVERRIDE_SENTENCE = (
    "This outcome was decided by the records custodian; the department's written policy "
    "proposed another ({proposed}). The custodian's reason is kept in the department's "
    "records."
)


def _grounds(
    decision: dict[str, Any], pack_notices: list[dict[str, str]]
) -> tuple[list[dict[str, str | None]], list[dict[str, str]] | None]:
    """The reasons the letter gives, each with its own citation, and the notices of the
    requester's rights as the decision recorded them.

    A decision recorded by an earlier version carries only its reasons as sentences,
    without their rules: they are given without citations (the rules that fired are
    cited together instead), and the notices come from the pack (``None``), which
    ``pack_notices`` holds when it is the pack the decision was made under.
    """
    grounds = decision.get("grounds")
    if isinstance(grounds, list):
        reasons = [
            {"text": str(g["text"]), "citation": g.get("citation")}
            for g in grounds
            if isinstance(g, dict) and g.get("kind") != "notice"
        ]
        notices = [
            {"text": str(g["text"]), "citation": str(g.get("citation") or "")}
            for g in grounds
            if isinstance(g, dict) and g.get("kind") == "notice"
        ]
        return reasons, notices
    rights = {f"{n['text']} ({n['citation']})" for n in pack_notices}
    reasons = [
        {"text": str(t), "citation": None}
        for t in decision.get("reasons", [])
        if str(t) not in rights  # listed under the requester's rights instead
    ]
    cited = "; ".join(
        f"{r.get('id')} ({r.get('citation')})" for r in decision.get("rules", []) if r.get("id")
    )
    if cited:
        reasons.append(
            {"text": f"The rules of the written policy that applied: {cited}.", "citation": None}
        )
    return reasons, None


def letter_doc(
    request: dict[str, Any],
    decision: dict[str, Any],
    record: dict[str, Any],
    notices: list[dict[str, str]],
    agency: str,
) -> dict[str, Any]:
    """Everything the letter says, as plain values (the HTML and the PDF share it).

    The letter says what the requester may know: the outcome, the reasons with the law
    each rests on, and their rights. It never shows the internal reason a custodian gave
    for overriding the policy's proposal (that stays on the record), nor anything about
    who inside the department was notified.
    """
    body = decision
    release = body.get("release") or {}
    released: list[str] = []
    if release:
        ev = release.get("evidence")
        ranges = release.get("ranges")
        what = "all recordings of the request" if ev == "all" else ", ".join(ev or [])
        if ranges and ranges != "all":
            spans = "; ".join(f"{a:g} s to {b:g} s" for a, b in ranges)
            released.append(f"{what}, the portions from {spans}")
        else:
            released.append(f"{what}, in full length")
    redactions = [
        f"{r.get('kind', 'redaction')}"
        + (f" over {r['ranges']}" if r.get("ranges") not in (None, "all") else "")
        + (f" — {r['reason']}" if r.get("reason") else "")
        + (f" ({r['citation']})" if r.get("citation") else "")
        for r in body.get("redactions", [])
    ]
    withheld = []
    if record["outcome"] in ("hold", "deny"):
        withheld.append("the recordings named in your request")
    elif release.get("ranges") not in (None, "all"):
        withheld.append("the portions outside the ranges above")
    reasons, recorded_notices = _grounds(body, notices)
    override = bool(record["override"])
    if override:
        text = OVERRIDE_SENTENCE.format(proposed=record["proposed_outcome"])
        reasons.insert(0, {"text": text, "citation": None})
    return {
        "agency": agency,
        "date": record["decided_at"][:10],
        "requester": request["requester"],
        "request_id": request["request_id"],
        "case": request["case"],
        "received_at": request["received_at"],
        "outcome": record["outcome"],
        "outcome_sentence": OUTCOME_SENTENCES[record["outcome"]],
        "released": released if record["outcome"] in ("release", "partial") else [],
        "redactions": redactions if record["outcome"] in ("release", "partial") else [],
        "withheld": withheld,
        "reasons": reasons,
        "review_at": body.get("review_at") if record["outcome"] == "hold" else None,
        "override": override,
        "proposed": record["proposed_outcome"],
        "notices": notices if recorded_notices is None else recorded_notices,
        "decision_id": record["decision_id"],
        "decided_at": record["decided_at"],
        "decider": record["decider"],
        "pack_name": record["pack_name"],
        "pack_sha256": record["pack_sha256"],
        "audit_seq": record["audit_seq"],
        "disclaimer": body.get("disclaimer", ""),
    }


def write_letter(doc: dict[str, Any], html_path: Path, pdf_path: Path) -> None:
    tmp = html_path.with_name(f".{html_path.name}.{os.getpid()}.tmp")
    tmp.write_text(_env.get_template("letter.html").render(l=doc))
    os.replace(tmp, html_path)
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_page()
    w = pdf.w - pdf.l_margin - pdf.r_margin

    def para(text: str, size: int = 11, style: str = "", gap: float = 1.5) -> None:
        pdf.set_font("Times", style, size)
        pdf.multi_cell(w, 5.5, _latin(text), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(gap)

    para(f"{doc['agency']} - Records custodian - {doc['date']}", 9)
    para(f"To: {doc['requester']}")
    para(
        f"Your request {doc['request_id']} for body-worn-camera recordings (case {doc['case']})",
        14,
        "B",
    )
    para(f"We received your request on {doc['received_at']}. {doc['outcome_sentence']}")
    for title, items in (
        ("What is released", doc["released"]),
        ("What is redacted, and why", doc["redactions"]),
        ("What is withheld, and why", doc["withheld"]),
    ):
        if items:
            para(title, 12, "B", 0.5)
            for item in items:
                para(f"- {item}", gap=0.3)
            pdf.ln(1)
    para("The reasons and the law", 12, "B", 0.5)
    for r in doc["reasons"]:
        para(f"- {r['text']}" + (f" ({r['citation']})" if r["citation"] else ""), gap=0.3)
    if doc["review_at"]:
        para(
            f"We will review this decision again by {doc['review_at']}, or sooner if the "
            "facts change."
        )
    if doc["notices"]:
        para("Your rights", 12, "B", 0.5)
        for n in doc["notices"]:
            para(f"- {n['text']} ({n['citation']})", gap=0.3)
    pdf.ln(3)
    para(
        f"Decision {doc['decision_id']}, made {doc['decided_at']} by {doc['decider']} under "
        f"policy pack '{doc['pack_name']}' (SHA-256 {doc['pack_sha256']}); audit event "
        f"#{doc['audit_seq']}. {doc['disclaimer']}",
        8,
    )
    tmp_pdf = pdf_path.with_name(f".{pdf_path.name}.{os.getpid()}.tmp")
    pdf.output(str(tmp_pdf))
    os.replace(tmp_pdf, pdf_path)
