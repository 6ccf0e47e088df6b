// Leg health (issue #13): the state of each of this page's peer connections, reported over
// signalling (`legs`, docs/signalling.md); the repair of a leg that does not connect or
// breaks; and what people are told. The practitioner sees the server's view of every leg in
// plain words beside the tiles ("Casey and the interpreter cannot hear each other — Rapport
// is trying again") with "Try again"; the people on a broken leg see "Reconnecting…".
//
// Repair, on the side that offers (impolite): an ICE restart first (call.js does it as soon
// as ICE says disconnected or failed), then a fresh peer connection for the pair, then a
// fresh one that is relay-only through TURN, and again relay-only every little while.

const TICK_MS = 1000;
const REPORT_EVERY_MS = 10000;
const FIRST_CONNECT_MS = 20000; // a leg that never connected: failed after this long
const BROKEN_AFTER_MS = 4000;   // a leg that had connected and is down: failed after this long
const FRESH_AFTER_MS = 5000;    // failed this long: a fresh peer connection
const RELAY_AFTER_MS = 8000;    // and still failed this long after that: relay only
const AGAIN_EVERY_MS = 15000;   // then again, twice as long each time (a loaded machine)

const $ = (id) => document.getElementById(id);
const fill = (text, values) => text.replace(/\{(\w+)\}/g, (m, key) => (key in values ? values[key] : m));

function stateOf(link, now) {
  const ice = link.pc.iceConnectionState;
  if (ice === "connected" || ice === "completed") {
    link.everConnected = true;
    link.downSince = 0;
    return "connected";
  }
  link.downSince = link.downSince || now;
  if (ice === "failed") return "failed";
  const limit = link.everConnected ? BROKEN_AFTER_MS : FIRST_CONNECT_MS;
  return now - link.downSince > limit ? "failed" : "checking";
}

export function legs({ links, send, text, practitioner, roster, me, active, relayPossible }) {
  let lastReport = "";
  let lastSent = 0;
  let view = [];            // the practitioner's: the server's view of every leg
  const mine = new Map();   // peer id -> this page's last state of that leg

  function repair(link, now) {
    if (link.polite) return; // the offering side repairs; the other follows its new offer
    const failedFor = now - (link.legFailedAt || now);
    const sinceStep = now - (link.repairedAt || 0);
    if (!link.repairStep && failedFor > FRESH_AFTER_MS) {
      link.repairStep = 1;
      link.repairedAt = now;
      link.renew(false);
    } else if (link.repairStep >= 1 && sinceStep > (link.repairStep === 1 ? RELAY_AFTER_MS
      : AGAIN_EVERY_MS * 2 ** Math.min(link.repairStep - 2, 3))) {
      link.repairStep += 1;
      link.repairedAt = now;
      link.renew(relayPossible());
    }
  }

  function tick() {
    if (!active()) return;
    const now = Date.now();
    const report = [];
    for (const link of links().values()) {
      const state = stateOf(link, now);
      mine.set(link.id, state);
      if (state === "failed") {
        link.legFailedAt = link.legFailedAt || now;
        repair(link, now);
      } else if (state === "connected") {
        link.legFailedAt = 0;
        link.repairStep = 0;
      }
      const candidate = state === "connected" ? link.last?.localCandidate ?? null : null;
      report.push({ peer: link.id, state, candidate });
    }
    for (const id of [...mine.keys()]) if (!links().has(id)) mine.delete(id);
    const body = JSON.stringify(report);
    if (body !== lastReport || now - lastSent > REPORT_EVERY_MS) {
      lastReport = body;
      lastSent = now;
      send({ type: "legs", legs: report });
    }
    render();
  }

  function nameOf(id) {
    if (id === me()?.id) return text.leg_you;
    const person = roster().find((p) => p.id === id);
    if (!person) return null;
    return person.role === "interpreter" ? text.leg_interpreter : person.name;
  }

  // The practitioner: every failed leg between people still admitted, with "Try again".
  function practitionerLines() {
    const admitted = new Set(roster().filter((p) => p.state === "admitted").map((p) => p.id));
    return view.filter((leg) => leg.state === "failed" && admitted.has(leg.a) && admitted.has(leg.b))
      .map((leg) => {
        // "You" first; the interpreter last (their name reads as "the interpreter").
        const [a, b] = [leg.a, leg.b].sort((x, y) => (x === me()?.id ? -1 : y === me()?.id ? 1
          : roster().find((p) => p.id === x)?.role === "interpreter" ? 1 : -1));
        const line = document.createElement("li");
        line.dataset.leg = `${leg.a}-${leg.b}`;
        const words = document.createElement("span");
        words.textContent = fill(text.leg_failed, { a: nameOf(a), b: nameOf(b) });
        const again = document.createElement("button");
        again.type = "button";
        again.className = "quiet";
        again.textContent = text.leg_try_again;
        again.addEventListener("click", () => send({ type: "repair", a: leg.a, b: leg.b }));
        line.append(words, " ", again);
        return line;
      });
  }

  // Everyone: their own legs that had connected and are down now.
  function ownLines() {
    const lines = [];
    for (const link of links().values()) {
      if (!link.everConnected || mine.get(link.id) === "connected") continue;
      const name = nameOf(link.id);
      if (!name) continue;
      const line = document.createElement("li");
      line.dataset.peer = String(link.id);
      line.textContent = fill(text.leg_reconnecting, { name });
      lines.push(line);
    }
    return lines;
  }

  function render() {
    const box = $("leg-status");
    if (!box) return;
    const lines = practitioner ? practitionerLines() : ownLines();
    const key = lines.map((l) => l.textContent).join("|");
    if (box.dataset.key === key) return; // unchanged: do not disturb screen readers
    box.dataset.key = key;
    box.replaceChildren(...lines);
    box.hidden = lines.length === 0;
  }

  function handle(m) {
    if (m.type === "legs") {
      view = m.legs;
      render();
    } else if (m.type === "repair") {
      const link = links().get(m.peer);
      if (link) {
        link.repairStep = 1;
        link.repairedAt = Date.now();
        link.renew(false);
      }
    }
  }

  setInterval(tick, TICK_MS);
  return {
    handle,
    view: () => ({ legs: view.map((l) => ({ ...l })), mine: Object.fromEntries(mine),
      shown: $("leg-status")?.textContent || "" }),
    renew: (peer) => links().get(peer)?.renew(false),
  };
}
