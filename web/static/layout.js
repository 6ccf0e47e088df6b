// The call page's layout (#14): the remote video fills what is left of the first screen above
// the fixed controls bar, at any width. CSS does the layout (call.css); this measures where the
// tiles start and how tall the bar is (--tiles-top, --bar-h), and opens and closes the side
// panel as a drawer on narrow screens. The speaking highlight and the call timer are beside it.

import "./speaking.js";
import "./timer.js";

const $ = (id) => document.getElementById(id);
const style = document.documentElement.style;

function setVar(name, px) {
  const value = `${Math.round(px)}px`;
  if (style.getPropertyValue(name) !== value) style.setProperty(name, value);
}

function measure() {
  const stage = $("stage");
  if (!stage || stage.hidden) return;
  setVar("--tiles-top", $("tiles").getBoundingClientRect().top + scrollY);
  setVar("--bar-h", stage.querySelector(".controls").getBoundingClientRect().height);
}

// What sits above the tiles changes (a status line wraps, a notice appears, the checklist
// goes): measure again whenever the page's size does.
const observer = new ResizeObserver(() => measure());
observer.observe(document.body);
observer.observe($("stage").querySelector(".controls"));
new MutationObserver(() => measure()).observe($("stage"), { attributes: true, attributeFilter: ["hidden"] });
addEventListener("resize", measure);

// The drawer (below 64rem): the toggle in the bar opens it over the video; Escape or the
// toggle closes it and gives the focus back.
const toggle = $("side-toggle");
const side = $("side");

export function openSide(open) {
  if (!toggle) return;
  toggle.setAttribute("aria-expanded", String(open));
  side.classList.toggle("open", open);
  if (open) side.focus();
}

toggle?.addEventListener("click", () => openSide(toggle.getAttribute("aria-expanded") !== "true"));
side.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && side.classList.contains("open")) {
    openSide(false);
    toggle.focus();
  }
});
// On a phone, letting in the last person waiting closes the drawer, so the practitioner sees
// them arrive; the focus goes back to the drawer's button.
side.addEventListener("click", (event) => {
  const admit = event.target.closest?.("#lobby-list .admit");
  if (!admit || !side.classList.contains("open") || getComputedStyle(toggle).display === "none") return;
  const others = [...document.querySelectorAll("#lobby-list li")]
    .filter((li) => !li.contains(admit) && li.querySelector(".actions:not([hidden])"));
  if (others.length) return;
  openSide(false);
  toggle.focus();
});
// The practitioner's own pre-call check, once in the call, goes to the side panel: still
// there to finish or close, never above the video. The page's phase is kept on #call
// (data-phase) for the styles.
const call = $("call");
setInterval(() => {
  const phase = window.rapportCall?.state().phase;
  if (!phase || call.dataset.phase === phase) return;
  call.dataset.phase = phase;
  const precall = $("precall");
  if (phase === "in" && precall && call.dataset.role === "practitioner" && precall.parentElement !== side) {
    side.append(precall);
  }
  measure();
}, 300);
measure();
