// Passkeys (WebAuthn) in the browser: enrol one at the first sign-in, sign in with one at
// the second-factor step, add one on the passkeys page. @simplewebauthn/browser (served
// from /static/vendor/, its UMD bundle: window.SimpleWebAuthnBrowser) runs the browser's
// ceremony; the server (services/passkeys.py) makes the options and checks the answers.
// No inline script: the CSP allows only files from this origin.
"use strict";

(() => {
  const lib = window.SimpleWebAuthnBrowser;

  async function post(path, body) {
    const response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body || {}),
    });
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const message = data && data.error && data.error.message;
      throw new Error(message || `the server refused (${response.status})`);
    }
    return data;
  }

  function said(error) {
    if (error && error.name === "NotAllowedError") {
      return "the passkey was not used (cancelled, or it timed out)";
    }
    return (error && error.message) || String(error);
  }

  function wire(buttonId, run) {
    const button = document.getElementById(buttonId);
    const problem = document.getElementById("passkey-error");
    if (!button) return;
    if (!lib || !lib.browserSupportsWebAuthn()) {
      if (problem) {
        problem.textContent = "This browser cannot use passkeys here.";
        problem.hidden = false;
      }
      return;
    }
    button.hidden = false;
    button.addEventListener("click", async () => {
      button.disabled = true;
      if (problem) problem.hidden = true;
      try {
        await run();
      } catch (error) {
        if (problem) {
          problem.textContent = `Refused: ${said(error)}`;
          problem.hidden = false;
        }
      } finally {
        button.disabled = false;
      }
    });
  }

  function nameGiven() {
    const field = document.getElementById("passkey-name");
    const name = field ? field.value.trim() : "";
    return name || null;
  }

  // The first sign-in: a passkey instead of TOTP; the recovery codes are shown once.
  wire("passkey-enrol", async () => {
    const options = await post("/api/v1/auth/passkeys/enrol-options");
    const credential = await lib.startRegistration({ optionsJSON: options });
    const done = await post("/api/v1/auth/passkeys/enrol", { credential, name: nameGiven() });
    const list = document.getElementById("recovery-codes");
    for (const code of done.recovery_codes || []) {
      const item = document.createElement("li");
      const text = document.createElement("code");
      text.textContent = code;
      item.append(text);
      list.append(item);
    }
    document.getElementById("enrol-choices").hidden = true;
    document.getElementById("passkey-codes").hidden = false;
    document.querySelector("#passkey-codes a").focus();
  });

  // The second factor with a passkey.
  wire("passkey-sign-in", async () => {
    const box = document.getElementById("passkey-sign-in-box");
    const options = await post("/api/v1/auth/passkeys/sign-in-options");
    const credential = await lib.startAuthentication({ optionsJSON: options });
    await post("/api/v1/auth/passkeys/sign-in", { credential });
    window.location.assign(box.dataset.next || "/dashboard");
  });

  // Another passkey for a signed-in user.
  wire("passkey-add", async () => {
    const options = await post("/api/v1/passkeys/options");
    const credential = await lib.startRegistration({ optionsJSON: options });
    await post("/api/v1/passkeys", { credential, name: nameGiven() });
    window.location.reload();
  });
})();
