// "If nothing works" (inclusion, #7): when the call page cannot get going (camera and
// microphone refused or missing, the signalling WebSocket unreachable after its retries, the
// connection failed and not recovering), it tells the person exactly what to do next and
// reports the reason (POST /precall/failure) so that the practitioner's waiting list shows
// that they tried. A plain HTTP request: the WebSocket may be what does not work. Each reason
// is reported once per page. Every sentence comes from the page's #failure-text block.

const root = document.getElementById("call");
const APPOINTMENT = root.dataset.appointment ? Number(root.dataset.appointment) : null;
const CSRF = root.dataset.csrf;
const T = JSON.parse(document.getElementById("failure-text").textContent);
const reported = new Set();
const sent = [];

// Show what to do next, in plain words, and move focus there (it is the page's news).
function advise(reason) {
  const box = document.getElementById("failure");
  document.getElementById("failure-reason").textContent = T[reason] || "";
  box.hidden = false;
  box.focus();
}

export async function reportFailure(reason, { camera, microphone }) {
  if (reported.has(reason)) return;
  reported.add(reason);
  advise(reason);
  const body = { reason, camera, microphone };
  if (APPOINTMENT !== null) body.appointment = APPOINTMENT;
  try {
    const response = await fetch("/precall/failure", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": CSRF, Accept: "application/json" },
      body: JSON.stringify(body),
    });
    sent.push({ reason, status: response.status });
  } catch (err) {
    sent.push({ reason, status: null });
    console.warn("failure report", err);
  }
}

// The practitioner's waiting list: the reason in plain words (call.js asks).
export function describeFailure(failure) {
  return failure ? (T[`lobby_${failure.reason}`] || failure.reason) : "";
}

export function failureView() {
  return { reported: [...reported], sent: [...sent] };
}
