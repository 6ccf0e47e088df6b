// The practitioner's waiting room (#14): when someone arrives the tab title says so
// ("(1) waiting"), a short sound plays (arrival.wav, served by Rapport; can be switched off,
// remembered in this browser) and, if they allowed it, a desktop notification; and the
// one-tap "running late, about 5 / 10 / 15 minutes" to the people waiting (their pages show
// it in their own language: call_extras.js). Sentences come from the page's #talk-text.

const $ = (id) => document.getElementById(id);
const T = JSON.parse($("talk-text").textContent);
const root = $("call");
const fill = (text, values) => text.replace(/\{(\w+)\}/g, (m, key) => (key in values ? values[key] : m));
const SOUND_KEY = "rapport.arrivalSound";
const baseTitle = document.title;
const view = { waiting: 0, sounds: 0, notifications: 0, late: null };

function send(message) {
  const ws = window.rapportCall?.socket();
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
}

// --- the practitioner: who is waiting, said in the title, by a sound, by a notification ---

function waitingNames() {
  // Those who can be let in now (connected: their entry has the Let in button).
  return [...document.querySelectorAll("#lobby-list li")].filter((li) => li.querySelector(".actions:not([hidden])"))
    .map((li) => li.querySelector("strong")?.textContent || "");
}

function chime() {
  if ($("arrival-sound").checked === false) return;
  const audio = new Audio("/static/arrival.wav");
  audio.play().then(() => { view.sounds += 1; }).catch(() => {});
}

function notify(name) {
  if (!("Notification" in window) || Notification.permission !== "granted" || document.hasFocus()) return;
  try {
    new Notification(T.notify_title, { body: fill(T.notify_body, { name }), tag: "rapport-waiting" });
    view.notifications += 1;
  } catch (err) {
    console.warn("notification", err.name);
  }
}

function arrivals() {
  const names = waitingNames();
  const count = names.length;
  if (count > view.waiting) {
    chime();
    notify(names[names.length - 1]);
  }
  view.waiting = count;
  document.title = count ? `${fill(T.title, { count })} – ${baseTitle}` : baseTitle;
  const badge = $("side-count");
  if (badge) {
    badge.hidden = count === 0;
    badge.textContent = String(count);
    badge.setAttribute("title", fill(T.waiting_count, { count }));
    badge.setAttribute("aria-label", fill(T.waiting_count, { count }));
    badge.setAttribute("role", "img");
  }
}

function notifyState() {
  const offer = $("arrival-notify");
  const state = $("arrival-notify-state");
  if (!("Notification" in window)) return;
  offer.hidden = Notification.permission !== "default";
  state.hidden = Notification.permission === "default";
  state.textContent = Notification.permission === "granted" ? T.notify_on : T.notify_blocked;
}

{
  const sound = $("arrival-sound");
  sound.checked = localStorage.getItem(SOUND_KEY) !== "off";
  sound.addEventListener("change", () => localStorage.setItem(SOUND_KEY, sound.checked ? "on" : "off"));
  $("arrival-notify").addEventListener("click", async () => {
    await Notification.requestPermission();
    notifyState();
  });
  notifyState();
  new MutationObserver(arrivals).observe($("lobby-list"), { childList: true, subtree: true, attributes: true, attributeFilter: ["hidden"] });
  for (const button of document.querySelectorAll("#late button[data-minutes]")) {
    button.addEventListener("click", () => send({ type: "running-late", minutes: Number(button.dataset.minutes) }));
  }
}

// --- the practitioner's note: what became of it (the waiting pages show it: call_extras.js) ---

window.addEventListener("rapport:signal", ({ detail: m }) => {
  if (m.type !== "running-late" || root.dataset.role !== "practitioner") return;
  view.late = { minutes: m.minutes, at: m.at };
  $("call-status").textContent = m.waiting ? fill(T.late_sent, { minutes: m.minutes }) : T.late_none;
});

window.rapportAlert = { view: () => ({ ...view, title: document.title }) };
