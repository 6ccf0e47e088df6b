// The practitioner's invite panel (moved out of call.js, #14): a new link for the client or
// the interpreter at any time, in or before the call. A new link replaces the person's old
// one at once (the server revokes it, and whoever joined by it leaves the room). Sentences
// come from the page's #call-text.

const $ = (id) => document.getElementById(id);
const root = document.getElementById("call");
const T = JSON.parse($("call-text").textContent);
const APPOINTMENT = root.dataset.appointment ? Number(root.dataset.appointment) : null;
const CSRF = root.dataset.csrf;

function status(text) {
  $("call-status").textContent = text;
}

function show(id, visible) {
  const el = $(id);
  if (el) el.hidden = !visible;
}

async function invite(event) {
  event.preventDefault();
  const form = event.target;
  const body = { role: form.elements.role.value };
  const channel = form.elements.channel.value;
  if (channel) body.send = { channel, to: form.elements.to.value.trim() };
  show("invite-error", false);
  let response;
  try {
    response = await fetch(`/api/v1/appointments/${APPOINTMENT}/invitations`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": CSRF, Accept: "application/json" },
      body: JSON.stringify(body),
    });
  } catch {
    response = null;
  }
  const data = response ? await response.json().catch(() => ({})) : {};
  if (!response || !response.ok) {
    // A policy refusal's detail already says each reason; its errors repeat them by field.
    const policy = (data.errors || []).some((e) => e.field === "policy");
    const details = [data.detail, ...(policy ? [] : (data.errors || []).map((e) => e.message || e.problem))].filter(Boolean);
    const box = $("invite-error");
    box.textContent = [T.invite_failed, ...details].join(" ");
    show("invite-error", true);
    box.focus();
    return;
  }
  $("invite-link").value = data.link;
  show("invite-result", true);
  status(data.sent ? T.sent : T.created);
}

async function copyLink() {
  const input = $("invite-link");
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    input.select();
    document.execCommand("copy");
  }
  status(T.copied);
}

$("invite-form")?.addEventListener("submit", invite);
$("invite-copy")?.addEventListener("click", copyLink);

