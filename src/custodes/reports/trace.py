"""The trace report an investigator can hand on, as HTML and as PDF.

Everything that came from outside (file names, recipients, purposes) is escaped in the
HTML (Jinja2 autoescape). The PDF uses the standard PDF fonts, so characters outside
Latin-1 are shown as '?'; the HTML keeps them.
"""

from __future__ import annotations

import base64
import math
import os
from pathlib import Path
from typing import Any

from fpdf import FPDF
from jinja2 import Environment, PackageLoader, select_autoescape

from custodes.core.attribution import P_FLOOR

_env = Environment(
    loader=PackageLoader("custodes.reports", "templates"),
    autoescape=select_autoescape(["html"]),
)


def odds_text(p: float, below: bool = False) -> str:
    """A probability in words: 'about 1 in 250', 'less than 1 in 10^7'.

    ``below``: ``p`` is a floor the true value lies under (a trace states no p-value
    below ``attribution.P_FLOOR``). A probability of 0 is never stated as such.
    """
    if below or p <= 0:
        floor = p if p > 0 else P_FLOOR
        return f"less than 1 in 10^{round(-math.log10(floor))}"
    if p >= 0.5:
        return "about even or more likely"
    exp = math.floor(-math.log10(p))
    if exp < 3:
        return f"about 1 in {round(1 / p):,}"
    return f"less than 1 in 10^{exp}"


ASSUMPTION = (
    "What these figures assume: the p-value is the watermark's tail bound (a never-issued "
    "key's score is a weighted sum of random signs) checked against the never-issued keys "
    "of this trace; it holds provided that the vault's records verify ('custodes verify' "
    "exits 0: the copies, their recipients and marks are those the signed audit log "
    "vouches for, and the watermark secret is the vault's own). 'Null as high' counts the "
    "never-issued keys that scored at least as high, a measurement free of any model. No "
    "p-value below {floor} is stated: that is as far as the method's calibration was "
    "measured to support it, and below it a wrong record or a defect is likelier than the "
    "figure."
)


def render_html(trace: dict[str, Any]) -> str:
    return _env.get_template("trace.html").render(trace=trace, assumption=ASSUMPTION)


def _latin(text: Any) -> str:
    return str(text).encode("latin-1", "replace").decode("latin-1")


def render_pdf(trace: dict[str, Any], path: Path) -> None:
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    def heading(text: str) -> None:
        pdf.ln(3)
        pdf.set_font("Helvetica", "B", 13)
        pdf.multi_cell(width, 7, _latin(text), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 10)

    def para(text: str, size: int = 10, style: str = "") -> None:
        pdf.set_font("Helvetica", style, size)
        pdf.multi_cell(width, 5, _latin(text), new_x="LMARGIN", new_y="NEXT")

    pdf.set_font("Helvetica", "B", 17)
    pdf.cell(width, 10, "Leak trace report", new_x="LMARGIN", new_y="NEXT")
    para(f"Trace {trace['trace_id']} - made {trace['created_at']} by {trace['actor']}", 9)
    pdf.ln(2)
    para(trace["summary"], 11, "B")

    heading("The leaked file")
    leak = trace["leak"]
    para(
        f"{leak['name']} - {leak['size']} bytes - {leak['duration_s']:.1f} s, "
        f"{leak['width']}x{leak['height']}"
    )
    para(f"SHA-256 {leak['sha256']}", 8)

    heading("Where it comes from")
    src = trace.get("source")
    if src:
        para(
            f"Evidence {src['evidence_id']} (case {src['case']}), from {src['offset_s']:.1f} s "
            f"to {src['offset_s'] + src['duration_s']:.1f} s of the original; "
            f"{src['frames_registered']} frames mapped onto the original picture."
        )
        para(f"Original SHA-256 {src['sha256']}", 8)
        for pair in trace.get("frames", [])[:2]:
            y = pdf.get_y() + 2
            if y > pdf.h - 70:
                pdf.add_page()
                y = pdf.get_y()
            half = (width - 4) / 2
            for i, key in enumerate(("leak_png", "orig_png")):
                data = base64.b64decode(pair[key])
                img = path.with_name(f".{path.name}.{os.getpid()}.{i}.png")
                img.write_bytes(data)
                try:
                    pdf.image(str(img), x=pdf.l_margin + i * (half + 4), y=y, w=half)
                finally:
                    img.unlink(missing_ok=True)
            pdf.set_y(y + half * pair.get("aspect", 0.5625) + 2)
            para(
                f"Left: leaked clip at {pair['leak_t']:.1f} s. Right: original at "
                f"{pair['orig_t']:.1f} s.",
                8,
            )
    else:
        para("This footage was not found in the vault's evidence.")

    heading("Which copy")
    if trace["candidates"]:
        para(
            f"A copy is named only if the chance that an innocent copy scores as high is below "
            f"{trace['alpha_text']} for the whole trace ({len(trace['candidates'])} copies "
            f"tested)."
        )
        pdf.set_font("Helvetica", "B", 9)
        cols = (34, 40, 14, 20, 24, width - 132)
        for text, w in zip(
            ("Export", "Recipient", "Score", "p-value", "Null as high", "In plain words"),
            cols,
            strict=True,
        ):
            pdf.cell(w, 6, text, border="B")
        pdf.ln()
        pdf.set_font("Helvetica", "", 9)
        for c in trace["candidates"]:
            cells = (
                c["export_id"],
                c["recipient"],
                f"{c['score']:.1f}",
                c["p_text"],
                c["null_text"],
                ("NAMED - " if c["attributed"] else "")
                + "chance "
                + odds_text(c["p_value"], c["p_below_floor"]),
            )
            for text, w in zip(cells, cols, strict=True):
                pdf.cell(w, 6, _latin(text)[:60], border="B")
            pdf.ln()
        null = trace["null"]
        para(
            f"Null: {null['keys']} never-issued keys, mean {null['mean']:.2f}, "
            f"sd {null['std']:.2f}, max {null['max']:.2f}.",
            8,
        )
        para(ASSUMPTION.format(floor=trace["floor_text"]), 8)
    else:
        para("No export of this evidence covers these seconds.")

    for h in trace.get("history", []):
        heading(f"History of copy {h['export_id']} (recipient {h['recipient']})")
        for e in h["events"]:
            para(
                f"#{e['seq']}  {e['at'][:19]}  {e['actor']}  {e['action']}  "
                f"{e.get('reason') or ''}",
                9,
            )
        para(f"Output SHA-256 {h['sha256']}", 8)

    heading("Integrity")
    para(
        f"This trace is audit event #{trace['audit_seq']}; check it with "
        f"'custodes audit prove {trace['audit_seq']}' and the vault's public key."
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pdf.output(str(tmp))
    os.replace(tmp, path)
