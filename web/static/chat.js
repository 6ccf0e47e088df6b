// The text chat (#14) for the people let in: messages over signalling (`chat`, stored by the
// server with the contact record), shown with names and times, always as text (never markup),
// announced to screen readers by the log's role. A page let in (or back in) asks for the chat
// so far. On a phone the chat is in the side drawer: a badge counts what came while it was shut.

const $ = (id) => document.getElementById(id);
const T = JSON.parse($("talk-text").textContent);
const CALL = JSON.parse($("call-text").textContent);
const root = $("call");
const fill = (text, values) => text.replace(/\{(\w+)\}/g, (m, key) => (key in values ? values[key] : m));
const MAX = 1000;
const seen = new Set();
let unread = 0;

// The panel, built here from #talk-text (the page stays light until it is needed).
function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}
const log = el("div", { id: "chat-log", className: "chat-log" });
log.setAttribute("role", "log");
log.setAttribute("aria-labelledby", "chat-title");
const textarea = el("textarea", { id: "chat-text", rows: 2, maxLength: 1000 });
const form = el("form", { id: "chat-form", className: "stack", noValidate: true },
  el("label", { htmlFor: "chat-text", textContent: T.chat_label }), textarea,
  el("p", { id: "chat-error", className: "error-summary", hidden: true }),
  el("div", { className: "actions" }, el("button", { type: "submit", textContent: T.chat_send })));
const section = el("section", { id: "chat", className: "panel chat", hidden: true },
  el("h2", { id: "chat-title", textContent: T.chat }), el("p", { className: "hint", textContent: T.chat_hint }), log, form);
section.setAttribute("aria-labelledby", "chat-title");
$("side").append(section);
let phase = null;

function send(message) {
  const ws = window.rapportCall?.socket();
  if (!ws || ws.readyState !== WebSocket.OPEN) return false;
  ws.send(JSON.stringify(message));
  return true;
}

function timeOf(iso) {
  return new Date(iso).toLocaleTimeString(document.documentElement.lang, { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: root.dataset.zone || undefined });
}

function drawerShut() {
  const side = $("side");
  return getComputedStyle($("side-toggle")).display !== "none" && !side.classList.contains("open");
}

function showUnread() {
  const badge = $("chat-unread");
  badge.hidden = unread === 0;
  badge.textContent = String(unread);
  badge.setAttribute("role", "img");
  badge.setAttribute("aria-label", fill(T.unread, { count: unread }));
}

function add(m, live) {
  if (seen.has(m.id)) return;
  seen.add(m.id);
  const me = window.rapportCall?.state().me?.id === m.from;
  const who = me ? CALL.you : `${m.name} (${CALL[`role_${m.role}`] || m.role})`;
  const item = document.createElement("div");
  item.className = me ? "mine" : "";
  item.dataset.id = String(m.id);
  const head = document.createElement("p");
  head.className = "chat-head";
  const name = document.createElement("strong");
  name.textContent = who;
  const time = document.createElement("time");
  time.dateTime = m.at;
  time.textContent = timeOf(m.at);
  head.append(name, " ", time);
  const body = document.createElement("p");
  body.className = "chat-body";
  body.textContent = m.text; // text only: markup typed in a message stays text
  item.append(head, body);
  const log = $("chat-log");
  log.append(item);
  log.scrollTop = log.scrollHeight;
  if (live && !me && drawerShut()) {
    unread += 1;
    showUnread();
  }
}

function error(text) {
  const box = $("chat-error");
  box.textContent = text;
  box.hidden = !text;
}

// The practitioner's running-late note, for the people waiting (kept by call_extras.js).
function late(m) {
  if (!m || root.dataset.role === "practitioner") return;
  $("late-note").textContent = `${fill(T.late, { minutes: m.minutes })} (${timeOf(m.at)})`;
}
late(window.rapportLate);

window.addEventListener("rapport:signal", ({ detail: m }) => {
  if (m.type === "running-late") late(m);
  else if (m.type === "chat") add(m, true);
  else if (m.type === "chat-history") for (const one of m.messages) add(one, false);
  else if (m.type === "error" && m.ref === "chat") {
    const empty = (m.errors || []).some((e) => e.problem === "empty");
    error(m.code === "rate_limited" ? T.chat_rate : m.code === "not_admitted" ? T.chat_not_admitted : empty ? T.chat_empty : T.chat_long);
  }
});

$("chat-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const box = $("chat-text");
  const text = box.value.trim();
  if (!text) return error(T.chat_empty);
  if (text.length > MAX) return error(T.chat_long);
  if (send({ type: "chat", text })) {
    error("");
    box.value = "";
  }
});

// Enter sends, Shift+Enter makes a new line (as in other chats).
$("chat-text").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("chat-form").requestSubmit();
  }
});

$("side-toggle")?.addEventListener("click", () => {
  unread = 0;
  showUnread();
});

// In the call: the chat shows, and the chat so far is asked for (again after a reconnect),
// a moment after coming in, so the request is not in the way of the call's first offer and
// answer on the same socket (issue #17).
let socket = null;
let inSince = 0;
setInterval(() => {
  const state = window.rapportCall?.state();
  if (!state) return;
  const inCall = state.phase === "in";
  $("chat").hidden = !inCall;
  if (inCall && phase !== "in") inSince = Date.now();
  const ws = window.rapportCall.socket();
  if (inCall && ws !== socket && Date.now() - inSince >= 1000 && ws?.readyState === WebSocket.OPEN) {
    if (send({ type: "chat-history" })) socket = ws;
  }
  if (!inCall) socket = null;
  phase = state.phase;
}, 500);

window.rapportChat = { messages: () => [...$("chat-log").children].map((li) => li.querySelector(".chat-body").textContent) };
