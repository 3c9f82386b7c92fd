// The trace job page: follow the job (GET /api/v1/jobs/{id}) and open its report once
// it is done. Without script the page says where the job was when it was loaded.
const section = document.getElementById("job");
const statusLine = document.getElementById("job-status");
const bar = document.getElementById("job-progress");
const POLL_MS = 1000;

function describe(job) {
  if (job.status === "queued") return "Waiting for a runner.";
  if (job.status === "running") {
    const p = job.progress;
    if (!p) return "Running.";
    const total = p.total ? ` of ${Math.round(p.total)}` : "";
    return `Running: ${p.label}, ${Math.round(p.done)}${total} ${p.unit}s.`;
  }
  if (job.status === "failed") return `Failed: ${job.error ? job.error.message : ""}`;
  if (job.status === "cancelled") return "Cancelled.";
  return "Done: opening the report.";
}

async function poll() {
  let job;
  try {
    const r = await fetch(`/api/v1/jobs/${encodeURIComponent(section.dataset.job)}`, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    if (!r.ok) {
      statusLine.textContent = `The job could not be read (${r.status}); reload the page.`;
      return;
    }
    job = await r.json();
  } catch {
    setTimeout(poll, POLL_MS * 3); // the server is away for a moment
    return;
  }
  const text = describe(job);
  if (statusLine.textContent !== text) statusLine.textContent = text;
  const p = job.progress;
  if (p && p.total) {
    bar.max = p.total;
    bar.value = Math.min(p.done, p.total);
  } else {
    bar.removeAttribute("value");
  }
  if (job.status === "done") {
    const trace = (job.result && job.result.trace_id) || section.dataset.trace;
    window.location.assign(`/traces/${encodeURIComponent(trace)}`);
  } else if (job.status === "queued" || job.status === "running") {
    setTimeout(poll, POLL_MS);
  }
}

if (section && statusLine && bar) {
  const hint = document.getElementById("job-refresh");
  if (hint) hint.hidden = true;
  poll();
}
