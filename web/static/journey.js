// The journey of a person who joined by link, before the call (docs/inclusion.md): one step
// per screen, in plain words: how we use your information (clients) → the safe-space
// questions, two to a screen → the camera and connection check → the waiting room. The steps
// are parts of the call page that call.js and precall.js run as before; this module only
// says which one shows (the page's data-step, read by journey.css), pages the questions,
// moves focus to each new step and keeps the browser's Back button working (one history
// entry per screen). It never sends anything: the server still decides.

const root = document.getElementById("call");
const $ = (id) => document.getElementById(id);
const T = JSON.parse($("journey-text").textContent);
const fill = (text, values) => text.replace(/\{(\w+)\}/g, (m, key) => (key in values ? values[key] : m));
const PER_PAGE = 2;
const STEPS = [...($("journey-privacy") ? ["privacy"] : []), "questions", "check", "wait"];

const journey = { step: root.dataset.step, page: 0, submitted: false, checked: false,
  // Moving on from the questions because the person sent them (a new screen, Back returns)
  // or because the server needs none (the same history entry).
  submittedOnce() { const s = this.submitted; this.submitted = false; return s; } };

const visible = (id) => Boolean($(id)) && !$(id).hidden;
const items = () => [...$("checklist-items").querySelectorAll("fieldset.item")];
const pages = () => Math.max(1, Math.ceil(items().length / PER_PAGE));
const hasCheck = () => Boolean(window.rapportPrecall && navigator.mediaDevices && window.RTCPeerConnection);

function heading(step) {
  const ids = { privacy: "journey-privacy-title", questions: "checklist-title", check: "precall-title" };
  const el = $(ids[step]) || $("waiting")?.querySelector("h2");
  if (el && !el.hasAttribute("tabindex")) el.setAttribute("tabindex", "-1");
  return el;
}

function render() {
  root.dataset.step = journey.step;
  const index = STEPS.indexOf(journey.step);
  $("journey-progress").textContent = index >= 0 ? fill(T.step, { n: index + 1, total: STEPS.length }) : "";
  if (journey.step === "questions") renderPage();
  if (journey.step === "check" && window.rapportPrecall?.result()) $("precall").hidden = false;
}

// Go to a step (and page). `push`: a new history entry, so Back returns here.
function go(step, page = 0, { push = true, focus = true } = {}) {
  if (journey.step === "done") return;
  journey.step = step;
  journey.page = page;
  render();
  if (push) history.pushState({ journey: step, page }, "");
  else history.replaceState({ journey: step, page }, "");
  if (focus) heading(step)?.focus();
}

function renderPage() {
  const all = items();
  const first = journey.page * PER_PAGE;
  all.forEach((item, i) => item.classList.toggle("later", i < first || i >= first + PER_PAGE));
  const last = journey.page >= pages() - 1;
  const confirm = $("checklist").querySelector("button[type=submit]");
  if (confirm) confirm.hidden = !last;
  nav().next.hidden = last;
  nav().back.hidden = journey.page === 0 && STEPS[0] === "questions";
  const label = $("journey-page");
  label.textContent = pages() > 1 ? fill(T.page, { n: journey.page + 1, total: pages() }) : "";
  $("journey-error").textContent = "";
}

// Back and Next beside the form's own Confirm (which call.js handles, on the last page).
let buttons = null;
function nav() {
  if (buttons) return buttons;
  const actions = $("checklist").querySelector(".actions");
  const make = (id, text, cls) => {
    const b = document.createElement("button");
    b.type = "button";
    b.id = id;
    b.textContent = text;
    if (cls) b.className = cls;
    return b;
  };
  // Keyboard order: the answers, then Next (or Confirm on the last screen), then Back.
  buttons = { back: make("journey-back", T.back, "quiet"), next: make("journey-next", T.next) };
  const page = document.createElement("p");
  page.id = "journey-page";
  page.className = "hint";
  const error = document.createElement("p");
  error.id = "journey-error";
  error.setAttribute("role", "alert");
  $("checklist-items").after(page, error);
  actions.append(buttons.next, buttons.back);
  buttons.next.addEventListener("click", next);
  buttons.back.addEventListener("click", () => history.back());
  return buttons;
}

function pageAnswered() {
  const first = journey.page * PER_PAGE;
  const open = items().slice(first, first + PER_PAGE).find((item) => !item.querySelector("input:checked"));
  if (!open) return true;
  $("journey-error").textContent = T.unanswered;
  open.querySelector("input")?.focus();
  return false;
}

function next() {
  if (!pageAnswered()) return;
  go("questions", journey.page + 1, { focus: false });
  items()[journey.page * PER_PAGE]?.querySelector("input")?.focus();
}

// Enter in a question submits the form: before the last page it means "Next". Caught on the
// way down (capture on the document), before call.js's own submit handler sends anything.
document.addEventListener("submit", (event) => {
  if (event.target !== $("checklist") || journey.step !== "questions") return;
  if (journey.page < pages() - 1) {
    event.preventDefault();
    event.stopImmediatePropagation();
    next();
    return;
  }
  journey.submitted = true;
}, true);

// What call.js and precall.js show decides when a step is over. The server chose the first
// step (server/joining/journey.py): a reopened page starts where the person left it.
function watch() {
  if (journey.step === "done") return;
  if (visible("stage") || visible("finished")) {
    journey.step = "done";
    render();
    return;
  }
  // The server took the answers (or asks none): on to the check, or to the waiting room.
  if (journey.step === "questions" && visible("waiting")) {
    if (hasCheck() && !journey.checked) go("check", 0, { push: !journey.submittedOnce() });
    else go("wait", 0, { push: false });
    return;
  }
  // The check was closed or skipped.
  if (journey.step === "check" && !visible("precall") && window.rapportPrecall?.result()) {
    journey.checked = true;
    go("wait", 0, { push: false });
  }
}

new MutationObserver(watch).observe(root, { subtree: true, attributes: true, attributeFilter: ["hidden"] });
// call.js fills the questions in when the server's welcome arrives.
new MutationObserver(() => {
  if (journey.step === "questions") renderPage();
}).observe($("checklist-items"), { childList: true });

window.addEventListener("popstate", (event) => {
  const s = event.state;
  if (!s || !s.journey || journey.step === "done") return;
  journey.step = s.journey;
  journey.page = s.page || 0;
  // Back to the questions after they were answered: show them again to change an answer.
  if (journey.step === "questions" && $("checklist").hidden && !visible("checklist-failed")) $("checklist").hidden = false;
  render();
  heading(journey.step)?.focus();
});

// "Change my answers" after a "no": back to the first screen of questions.
$("checklist-again").addEventListener("click", () => {
  go("questions", 0, { focus: false });
  items()[0]?.querySelector("input")?.focus();
});
$("journey-privacy-next")?.addEventListener("click", () => {
  go("questions");
  watch();
});

history.replaceState({ journey: journey.step, page: 0 }, "");
render();
watch();

window.rapportJourney = { view: () => ({ step: journey.step, page: journey.page, pages: pages() }) };
