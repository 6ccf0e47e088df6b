// The call page's modules beside call.js (#14), loaded when needed: the practitioner's at once
// (layout.css is in their page); a client's or interpreter's, with layout.css, once they reach
// the waiting room, so the journey's first steps stay light on a phone (bench/pages.py). The
// running-late note is kept here (chat.js shows it) so one that comes early is not missed.

const $ = (id) => document.getElementById(id);
const prac = $("call").dataset.role === "practitioner";
const stage = $("stage");
const due = () => prac || !stage.hidden || !$("waiting").hidden;
let loaded = false;

function load() {
  if (loaded || !due()) return;
  loaded = true;
  watch.disconnect();
  const modules = ["./layout.js", "./chat.js", "./stats.js", "./devices.js", ...(prac ? ["./waiting_alert.js", "./invite.js"] : [])];
  if (!prac) document.head.append(Object.assign(document.createElement("link"), { rel: "stylesheet", href: "/static/layout.css" }));
  for (const m of modules) import(m).catch((err) => console.error("module", m, err));
}

window.addEventListener("rapport:signal", ({ detail: m }) => {
  if (m.type === "running-late") window.rapportLate = m;
});
const watch = new MutationObserver(load);
watch.observe($("call"), { subtree: true, attributes: true, attributeFilter: ["hidden"] });
load();
