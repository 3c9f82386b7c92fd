// The upload page: a video sent into a case with tus-js-client (static/vendor/tus.min.js,
// copied from npm by `make install`) against the vault's tus API (/api/v1/uploads).
// docs/web.md, "Uploading evidence from the browser".
//
// - Pieces of data-chunk-size bytes; the progress bar follows the bytes sent.
// - Pause stops the request in flight (the vault keeps what arrived); Resume asks the
//   vault's offset (HEAD) and goes on from there, never from the start.
// - A dropped connection: retried after a delay while the browser is online; while it is
//   offline, the upload waits for the `online` event and resumes by itself.
// - The upload's URL is kept in localStorage under a fingerprint of this user, this case
//   and the file: choosing the same file again after a reload resumes that upload.
// - The last piece makes the evidence: its id and SHA-256 are shown, or the vault's one
//   line of refusal (a duplicate, a damaged file, not a video), and nothing is retried.

const form = document.getElementById("upload-form");
const section = document.getElementById("upload");
const fileInput = document.getElementById("upload-file");
const startButton = document.getElementById("upload-start");
const pauseButton = document.getElementById("upload-pause");
const resumeButton = document.getElementById("upload-resume");
const cancelButton = document.getElementById("upload-cancel");
const meter = document.getElementById("upload-meter");
const progress = document.getElementById("upload-progress");
const amount = document.getElementById("upload-amount");
const statusLine = document.getElementById("upload-status");
const result = document.getElementById("upload-result");
const ENDPOINT = new URL("/api/v1/uploads", window.location.href).href;
const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000, 30000, 60000];

let upload = null;

function megabytes(n) {
  return `${(n / 1e6).toFixed(1)} MB`;
}

function setState(state, text) {
  section.dataset.state = state;
  statusLine.className = state === "error" ? "error" : "";
  statusLine.textContent = text;
  const running = state === "uploading" || state === "retrying";
  startButton.disabled = running || state === "paused" || state === "offline" || state === "stalled";
  fileInput.disabled = startButton.disabled;
  pauseButton.disabled = !(running || state === "offline");
  resumeButton.disabled = !(state === "paused" || state === "stalled");
  cancelButton.disabled = !(running || state === "paused" || state === "offline" || state === "stalled");
}

function showProgress(sent, total) {
  meter.hidden = false;
  progress.value = total ? Math.floor((sent / total) * 1000) : 0;
  amount.textContent = `${megabytes(sent)} of ${megabytes(total)} (${total ? Math.floor((sent / total) * 100) : 0}%)`;
}

/** The vault's JSON error ({"error": {"code", "message", "field"}}) of a failed request. */
function vaultError(err) {
  const response = err && err.originalResponse;
  if (!response) return null;
  try {
    const body = JSON.parse(response.getBody());
    if (body && body.error) return { status: response.getStatus(), ...body.error };
  } catch {
    // not JSON: a proxy's page, say
  }
  return { status: response.getStatus(), code: "http", message: `the vault answered ${response.getStatus()}` };
}

/** Whether tus-js-client should try again (its default retries every 409 and 5xx, which
 * would send a refused file again as a new upload). */
function shouldRetry(err) {
  const refused = vaultError(err);
  if (refused === null) return navigator.onLine; // no answer: the connection
  if (refused.status === 409) {
    // The offset moved (ask it again) or a dropped request still holds the upload.
    return refused.field === "Upload-Offset" || refused.message.includes("being written by another request");
  }
  return refused.status === 502 || refused.status === 503 || refused.status === 504 || refused.status === 423;
}

function showResult(kind, build) {
  result.replaceChildren();
  result.className = `result ${kind}`;
  result.dataset.outcome = kind === "ok" ? "done" : "error";
  build(result);
  result.focus();
}

async function finished(lastResponse) {
  // The request that brought the last byte names the evidence; after a lost answer the
  // resume's HEAD does not, and the upload's own record tells.
  let evidenceId = lastResponse ? lastResponse.getHeader("Custodes-Evidence-Id") : null;
  let sha256 = null;
  try {
    const response = await fetch(upload.url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (response.ok) {
      const shown = await response.json();
      evidenceId = shown.evidence_id || evidenceId;
      sha256 = shown.sha256;
    }
  } catch {
    // the evidence id from the last answer is enough
  }
  setState("done", "Uploaded.");
  showResult("ok", (box) => {
    box.append("Evidence ");
    const link = document.createElement("a");
    link.href = `/evidence/${encodeURIComponent(evidenceId)}`;
    link.id = "upload-evidence";
    link.textContent = evidenceId;
    box.append(link, " is in the vault.");
    if (sha256) {
      const hash = document.createElement("code");
      hash.id = "upload-sha256";
      hash.className = "wrap";
      hash.textContent = sha256;
      box.append(" SHA-256 ", hash, ".");
    }
  });
  form.reset();
  upload = null;
}

function failed(err) {
  const refused = vaultError(err);
  if (refused === null && !navigator.onLine) {
    setState("offline", "The connection is down: the upload goes on by itself when it is back.");
    return;
  }
  if (refused === null) {
    setState("stalled", "The connection to the vault was lost. Resume goes on from the last byte the vault kept.");
    return;
  }
  // Refused: the vault has removed the upload (or never began it); forget its address.
  forget();
  setState("error", "Refused by the vault.");
  showResult("error", (box) => {
    box.textContent = `${refused.message} (${refused.code})`;
  });
  upload = null;
}

async function forget() {
  if (!upload) return;
  const storage = upload.options.urlStorage;
  for (const previous of await upload.findPreviousUploads()) {
    await storage.removeUpload(previous.urlStorageKey);
  }
}

function metadata(file) {
  const fields = {
    case: form.dataset.case,
    filename: file.name,
    officer: document.getElementById("upload-officer").value.trim(),
    device: document.getElementById("upload-device").value.trim(),
    recorded_at: document.getElementById("upload-recorded").value.trim(),
  };
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value));
}

async function begin(file) {
  const tus = window.tus;
  upload = new tus.Upload(file, {
    endpoint: ENDPOINT,
    chunkSize: Number(form.dataset.chunkSize),
    retryDelays: RETRY_DELAYS,
    metadata: metadata(file),
    // One user, one case, one file: another person's upload or another case's is never
    // resumed from this browser's storage.
    fingerprint: async (f) =>
      ["custodes", form.dataset.user, form.dataset.case, f.name, f.type, f.size, f.lastModified].join("/"),
    removeFingerprintOnSuccess: true,
    onShouldRetry: (err) => {
      if (shouldRetry(err)) {
        setState("retrying", "The connection dropped: trying again from the last byte the vault kept…");
        return true;
      }
      return false;
    },
    onProgress: (sent, total) => {
      if (section.dataset.state !== "uploading") setState("uploading", "Uploading…");
      showProgress(sent, total);
    },
    onChunkComplete: (_size, accepted) => {
      section.dataset.accepted = String(accepted);
    },
    onSuccess: (payload) => finished(payload && payload.lastResponse),
    onError: failed,
  });
  const previous = (await upload.findPreviousUploads()).filter(
    (p) => p.metadata && p.metadata.case === form.dataset.case,
  );
  if (previous.length) {
    upload.resumeFromPreviousUpload(previous[0]);
    setState("uploading", "Resuming the earlier upload of this file…");
  } else {
    setState("uploading", "Uploading…");
  }
  showProgress(0, file.size);
  upload.start();
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const file = fileInput.files && fileInput.files[0];
  if (!file) {
    fileInput.focus();
    return;
  }
  result.replaceChildren();
  result.className = "result";
  delete result.dataset.outcome;
  if (file.size > Number(form.dataset.maxSize)) {
    setState("error", "Too large.");
    showResult("error", (box) => {
      box.textContent = `${file.name} is ${megabytes(file.size)}, over this vault's limit of ${megabytes(Number(form.dataset.maxSize))}.`;
    });
    return;
  }
  begin(file).catch((err) => failed(err));
});

pauseButton.addEventListener("click", () => {
  if (!upload) return;
  upload.abort();
  setState("paused", "Paused. The vault keeps what it received; Resume goes on from there.");
  resumeButton.focus();
});

resumeButton.addEventListener("click", () => {
  if (!upload) return;
  setState("uploading", "Resuming…");
  upload.start();
  pauseButton.focus();
});

cancelButton.addEventListener("click", async () => {
  if (!upload) return;
  const stopping = upload;
  upload = null;
  try {
    await stopping.abort(true);
    setState("idle", "Cancelled: the vault deleted what it had received.");
  } catch {
    setState("idle", "Cancelled. The vault removes the unfinished upload when it expires.");
  }
  meter.hidden = true;
  startButton.focus();
});

window.addEventListener("online", () => {
  if (upload && section.dataset.state === "offline") {
    setState("uploading", "The connection is back: resuming…");
    upload.start();
  }
});

if (window.tus && window.tus.isSupported) {
  form.hidden = false;
  setState("idle", "");
} else {
  statusLine.className = "error";
  statusLine.textContent = window.tus
    ? "This browser cannot send resumable uploads."
    : "The upload library is missing on this server (make install copies it).";
}
