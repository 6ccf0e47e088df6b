// The call timer (#14): how long this person has been in the session, in the controls bar.
// It starts when the page is let in and survives a reload of the same tab (sessionStorage).

const $ = (id) => document.getElementById(id);
const KEY = `rapport.inCallSince:${location.pathname}:${document.getElementById("call").dataset.appointment || ""}`;
const digits = new Intl.NumberFormat(document.documentElement.lang, { minimumIntegerDigits: 2 });

function format(seconds) {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return (h ? `${digits.format(h)}:` : "") + `${digits.format(m)}:${digits.format(s)}`;
}

function tick() {
  const phase = window.rapportCall?.state().phase;
  const box = $("call-timer");
  if (phase === "final") sessionStorage.removeItem(KEY);
  if (phase !== "in") {
    box.hidden = true;
    return;
  }
  let since = Number(sessionStorage.getItem(KEY));
  if (!since) {
    since = Date.now();
    sessionStorage.setItem(KEY, String(since));
  }
  box.textContent = format(Math.max(0, Math.floor((Date.now() - since) / 1000)));
  box.hidden = false;
}

setInterval(tick, 1000);
