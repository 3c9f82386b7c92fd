"""The decision screen's letter: read on the page, downloaded as the PDF the CLI writes,
for those who may see the request; none before a decision."""

from __future__ import annotations

from pathlib import Path

from custodes.services import cases, evidence, requests
from tests.web.conftest import Web


def test_the_letter_of_a_decided_request(sqlite_web: Web, clips: dict[str, Path]) -> None:
    web = sqlite_web
    rec, officer = web.user("records"), web.user("officer")
    cases.add_case(web.vault, rec, "C-LETTER", "letter")
    evidence.ingest(web.vault, rec, clips["a"], "C-LETTER")
    asked = requests.add_request(
        web.vault, rec, requests.AddRequest("C-LETTER", "Denver Post", "press")
    )
    rid = asked.request_id
    client = web.sign_in(rec)
    screen = client.get(f"/requests/{rid}")
    assert screen.status_code == 200 and f"/requests/{rid}/letter" not in screen.text
    r = client.get(f"/requests/{rid}/letter")
    assert r.status_code == 409 and "no recorded decision yet" in r.text

    requests.decide_request(web.vault, rec, rid, accept=True)
    screen = client.get(f"/requests/{rid}")
    assert f'href="/requests/{rid}/letter"' in screen.text
    assert f'href="/requests/{rid}/letter.pdf"' in screen.text
    page = client.get(f"/requests/{rid}/letter")
    assert page.status_code == 200, page.text
    assert "<style" not in page.text and "To: Denver Post" in page.text
    assert f"<h2>Your request {rid}" in page.text  # the letter's headings, one level down
    assert 'id="letter-pdf"' in page.text
    pdf = client.get(f"/requests/{rid}/letter.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-disposition"].startswith('attachment; filename="letter-')
    assert pdf.headers["cache-control"] == "no-store"

    before = len(web.events("access-refused"))
    r = web.sign_in(officer).get(f"/requests/{rid}/letter.pdf")
    assert r.status_code == 403 and "access-denied" in r.text
    refused = web.events("access-refused")
    assert len(refused) == before + 1 and refused[-1]["actor"] == officer
