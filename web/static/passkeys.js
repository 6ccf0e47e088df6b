// Passkeys (WebAuthn): registration and sign-in ceremonies with the server's options.
// The server keeps each challenge for a few minutes and checks everything; this module only
// carries bytes between navigator.credentials and the JSON endpoints under /login/passkey.

const b64 = {
  decode(text) {
    const plain = text.replace(/-/g, "+").replace(/_/g, "/");
    const padded = plain + "=".repeat((4 - (plain.length % 4)) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)).buffer;
  },
  encode(buffer) {
    const bytes = new Uint8Array(buffer);
    let text = "";
    for (const byte of bytes) text += String.fromCharCode(byte);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  },
};

async function post(path, csrf, body) {
  const response = await fetch(path, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "Accept": "application/json",
               "X-CSRF-Token": csrf },
    body: JSON.stringify(body || {}),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.detail || response.statusText);
  return data;
}

function creationOptions(options) {
  const publicKey = { ...options, challenge: b64.decode(options.challenge),
                      user: { ...options.user, id: b64.decode(options.user.id) } };
  publicKey.excludeCredentials = (options.excludeCredentials || []).map(
    (c) => ({ ...c, id: b64.decode(c.id) }));
  return { publicKey };
}

function requestOptions(options) {
  const publicKey = { ...options, challenge: b64.decode(options.challenge) };
  publicKey.allowCredentials = (options.allowCredentials || []).map(
    (c) => ({ ...c, id: b64.decode(c.id) }));
  return { publicKey };
}

function registrationJSON(credential) {
  const r = credential.response;
  return {
    id: credential.id, rawId: b64.encode(credential.rawId), type: credential.type,
    response: { clientDataJSON: b64.encode(r.clientDataJSON),
                attestationObject: b64.encode(r.attestationObject),
                transports: r.getTransports ? r.getTransports() : [] },
    clientExtensionResults: credential.getClientExtensionResults(),
  };
}

function assertionJSON(credential) {
  const r = credential.response;
  return {
    id: credential.id, rawId: b64.encode(credential.rawId), type: credential.type,
    response: { clientDataJSON: b64.encode(r.clientDataJSON),
                authenticatorData: b64.encode(r.authenticatorData),
                signature: b64.encode(r.signature),
                userHandle: r.userHandle ? b64.encode(r.userHandle) : null },
    clientExtensionResults: credential.getClientExtensionResults(),
  };
}

function showCodes(box, codes, next) {
  const list = box.querySelector("#passkey-codes-list");
  for (const code of codes) {
    const item = document.createElement("li");
    const text = document.createElement("code");
    text.textContent = code;
    item.append(text);
    list.append(item);
  }
  box.querySelector("#passkey-continue").href = next;
  box.hidden = false;
  box.querySelector("h2").focus();
}

async function enrol(root, status) {
  const csrf = root.dataset.csrf;
  const name = root.querySelector("#passkey-name").value || "Passkey";
  const options = await post("/login/passkey/register/options", csrf);
  const credential = await navigator.credentials.create(creationOptions(options));
  const done = await post("/login/passkey/register", csrf,
                          { credential: registrationJSON(credential), name, next: root.dataset.next });
  status.textContent = root.dataset.done;
  const codes = document.getElementById("passkey-codes");
  if (done.codes.length && codes) showCodes(codes, done.codes, done.next);
  else window.location.assign(done.next);
}

async function signIn(root) {
  const csrf = root.dataset.csrf;
  const options = await post("/login/passkey/options", csrf);
  const credential = await navigator.credentials.get(requestOptions(options));
  const done = await post("/login/passkey", csrf,
                          { credential: assertionJSON(credential), next: root.dataset.next,
                            again: root.dataset.again === "1" });
  window.location.assign(done.next);
}

function wire(id, buttonId, action) {
  const root = document.getElementById(id);
  if (!root) return;
  const status = root.querySelector("[role=status]");
  if (!window.PublicKeyCredential) {
    status.textContent = root.dataset.unsupported;
    root.querySelector(`#${buttonId}`).disabled = true;
    return;
  }
  root.querySelector(`#${buttonId}`).addEventListener("click", async () => {
    status.textContent = root.dataset.waiting;
    try {
      await action(root, status);
    } catch (error) {
      status.textContent = `${root.dataset.failed} ${error.message || ""}`.trim();
    }
  });
}

wire("passkey-enrol", "passkey-add", enrol);
wire("passkey-sign-in", "passkey-use", signIn);
