// The evidence page's player: start a viewing (a copy marked for this viewer, on the audit
// log), then play its HLS stream with hls.js, served from this origin (static/vendor/, copied
// from npm by `make install`). docs/web.md, "Playback: every viewing is a marked copy".
//
// A flagged case needs a reason: the page fills in the one given to open it; if the server
// still answers `reason-required`, the reason field is shown and the viewer asked again.

const slot = document.getElementById("player-slot");
const form = document.getElementById("player-form");
const reasonBox = document.getElementById("player-reason-box");
const reasonField = document.getElementById("player-reason");
const button = document.getElementById("player-start");
const video = document.getElementById("player");
const status = document.getElementById("player-status");
const HLS_MODULE = "/static/vendor/hls.light.min.mjs";

function say(state, text) {
  slot.dataset.state = state;
  status.className = state === "error" ? "error" : "";
  status.textContent = text;
}

async function loadHls() {
  try {
    return (await import(HLS_MODULE)).default;
  } catch {
    return null; // not installed: native HLS may still play it
  }
}

async function startViewing() {
  const body = {};
  if (!reasonBox.hidden && reasonField.value.trim()) body.reason = reasonField.value.trim();
  const response = await fetch(
    `/api/v1/evidence/${encodeURIComponent(slot.dataset.evidence)}/viewings`,
    {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    },
  );
  const answer = await response.json().catch(() => ({}));
  if (response.ok) return answer;
  const error = answer.error || { code: "http", message: `the server answered ${response.status}` };
  throw error;
}

function play(viewing, Hls) {
  video.hidden = false;
  slot.dataset.viewing = viewing.viewing_id;
  const url = viewing.playlist;
  const begin = () => {
    video.focus();
    video.play().catch(() => say("ready", "Ready: press Play on the video (Space or Enter)."));
  };
  if (Hls && Hls.isSupported()) {
    // No worker: the CSP opens no worker-src (the Media Source's blob: URL is in media-src).
    const hls = new Hls({ enableWorker: false });
    hls.on(Hls.Events.MANIFEST_PARSED, begin);
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (data.fatal) {
        say("error", `Playback stopped: ${data.details}${data.response ? ` (${data.response.code})` : ""}.`);
        hls.destroy();
      }
    });
    hls.loadSource(url);
    hls.attachMedia(video);
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = url;
    video.addEventListener("loadedmetadata", begin, { once: true });
  } else {
    say("error", "This browser cannot play the stream (no Media Source Extensions, no HLS).");
    return;
  }
  say(
    "playing",
    `Viewing ${viewing.viewing_id}: ${viewing.segments} segment(s) of ${viewing.segment_s} s, ` +
      `rendered for you as they are asked for; ${viewing.width}×${viewing.height}.` +
      (viewing.alerted && viewing.alerted.length ? ` Told of it: ${viewing.alerted.join(", ")}.` : ""),
  );
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!form.reportValidity()) return;
  button.disabled = true;
  say("starting", "Starting the viewing…");
  try {
    const [viewing, Hls] = await Promise.all([startViewing(), loadHls()]);
    form.hidden = true;
    play(viewing, Hls);
  } catch (error) {
    button.disabled = false;
    if (error.code === "reason-required") {
      reasonBox.hidden = false;
      reasonField.required = true;
      say("reason", `${error.message} Say why, then play.`);
      reasonField.focus();
      return;
    }
    say("error", `Playback refused: ${error.message || error} (${error.code || "error"}).`);
  }
});

form.hidden = false;
slot.dataset.state = "idle";
