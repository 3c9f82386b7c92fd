// The audit page: fetch a proof, check it here (static/audit.js), say what was proven.
import { ProofFailure, hex, verifyBundle } from "./audit.js";

const result = document.getElementById("verify-result");
const vkeyInput = document.getElementById("vkey");

function show(outcome, title, lines) {
  result.replaceChildren();
  result.dataset.outcome = outcome;
  const head = document.createElement("p");
  head.className = outcome === "verified" ? "ok" : "error";
  head.textContent = title;
  result.append(head);
  if (lines.length) {
    const list = document.createElement("ul");
    for (const line of lines) {
      const item = document.createElement("li");
      item.textContent = line;
      list.append(item);
    }
    result.append(list);
  }
  // Bring the answer to the reader (and to a screen reader's focus) after a click far below.
  result.focus({ preventScroll: true });
  window.scrollTo({ top: Math.max(0, result.getBoundingClientRect().top + window.scrollY - 160) });
}

function describe(checked) {
  if (checked.kind === "inclusion") {
    const e = checked.event;
    const cp = checked.checkpoint;
    return [
      `Event ${e.seq}: ${e.action} by ${e.actor} at ${e.at}`,
      `is leaf ${checked.index} of the log “${cp.origin}” of ${cp.size} events,`,
      `whose root ${hex(cp.root).slice(0, 16)}… is signed by the key you trust.`,
    ];
  }
  return [
    `The log “${checked.newer.origin}” of ${checked.newer.size} events extends the one of ${checked.older.size}:`,
    `nothing before was changed, reordered or removed (both checkpoints signed by the key you trust).`,
  ];
}

async function check(bundle, claim, proofOf) {
  result.setAttribute("aria-busy", "true");
  try {
    const checked = await verifyBundle(bundle, vkeyInput.value);
    show("verified", `Verified in this browser: ${claim}.`, describe(checked));
  } catch (err) {
    const why = err instanceof ProofFailure ? err.message : `${err.name}: ${err.message}`;
    show("failed", `NOT verified: the proof ${proofOf} does not hold.`, [why]);
  } finally {
    result.removeAttribute("aria-busy");
  }
}

async function fetchProof(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error ? body.error.message : `HTTP ${response.status}`);
  return body;
}

for (const button of document.querySelectorAll("button.verify")) {
  button.hidden = false;
  button.addEventListener("click", async () => {
    const seq = button.dataset.seq;
    try {
      await check(await fetchProof(`/api/v1/audit/proofs/inclusion?seq=${seq}`), `event ${seq} is in the signed log`, `of event ${seq}`);
    } catch (err) {
      show("failed", `No proof for event ${seq}.`, [err.message]);
    }
  });
}

// The checkpoint this browser saw on its last visit: has the log only grown since?
const SEEN = "custodes.audit.seenSize";
const published = Number((document.getElementById("checkpoint").textContent.split("\n")[1] || "").trim());

const consistency = document.getElementById("consistency-form");
if (consistency) {
  consistency.hidden = false;
  const seen = Number(localStorage.getItem(SEEN));
  if (Number.isSafeInteger(seen) && seen > 0 && seen <= published) {
    consistency.elements.old_size.value = String(seen);
    consistency.elements.old_size.title = "the checkpoint this browser saw last time";
  }
  consistency.addEventListener("submit", async (event) => {
    event.preventDefault();
    const size = consistency.elements.old_size.value;
    try {
      await check(await fetchProof(`/api/v1/audit/proofs/consistency?old_size=${encodeURIComponent(size)}`), `the log only grew since size ${size}`, `from size ${size}`);
    } catch (err) {
      show("failed", `No consistency proof from size ${size}.`, [err.message]);
    }
  });
}

const pasted = document.getElementById("bundle-form");
pasted.hidden = false;
pasted.addEventListener("submit", async (event) => {
  event.preventDefault();
  let bundle;
  try {
    bundle = JSON.parse(pasted.elements.bundle.value);
  } catch {
    show("failed", "NOT verified: the pasted text is not JSON.", []);
    return;
  }
  await check(bundle, "the pasted proof holds", "you pasted");
});

for (const hint of document.querySelectorAll(".js-only")) hint.hidden = false;
if (Number.isSafeInteger(published) && published > 0) localStorage.setItem(SEEN, String(published));
document.body.dataset.auditReady = "true";
