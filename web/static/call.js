// The video session page: one WebSocket to /signal (docs/signalling.md), one
// RTCPeerConnection per other person (mesh, perfect negotiation), a waiting room, the
// safe-space checklist and the practitioner's controls. Every sentence comes from the
// page's translated #call-text block; this file holds no text a person reads.

const root = document.getElementById("call");
const T = JSON.parse(document.getElementById("call-text").textContent);
const ROLE = root.dataset.role;
const APPOINTMENT = root.dataset.appointment ? Number(root.dataset.appointment) : null;
const CSRF = root.dataset.csrf;
const PRACTITIONER = ROLE === "practitioner";
// Close codes after which a page must not reconnect (docs/signalling.md, "Limits and errors").
const FINAL_CLOSE = new Set([1000, 1009, 4400, 4401, 4403, 4404, 4409, 4410, 4429]);
const STATS_EVERY_MS = 2000;
const STUCK_MS = 5000;
const UNREACHABLE_AFTER = 4;  // failed WebSocket attempts before "if nothing works" (failure.js)
const PREPARED_MS = 10000;   // a connection readied for someone not let in by then is dropped
const ICE_FAILED_MS = 20000;  // a connection failed this long, restarts and all, is reported

import { recording } from "./recording.js";
import { fallback } from "./fallback.js";
import { describeFailure, failureView, reportFailure } from "./failure.js";
import { attachTracks, createLayout } from "./negotiation.js";
import { playPreview } from "./preview.js";
import { legs as legHealth } from "./legs.js";

const $ = (id) => document.getElementById(id);
const signal = (m) => window.dispatchEvent(new CustomEvent("rapport:signal", { detail: m }));
const fill = (text, values) => text.replace(/\{(\w+)\}/g, (m, key) => (key in values ? values[key] : m));

const call = {
  phase: "starting",   // starting | checklist | waiting | in | final
  me: null,            // {id, role, name, state} from welcome, kept up to date from rosters
  welcome: null,
  roster: [],
  rosterVersion: -1,
  links: new Map(),    // peer id -> Link
  prepared: new Map(), // peer id -> Link being readied while the practitioner lets them in
  shownOthers: null,   // how many others the status line last said were in the call
  local: new MediaStream(),
  audio: false,
  video: false,
  audioOnly: false,    // send and show no video (a poor line)
  socket: null,
  attempts: 0,
  everWelcomed: false,
  final: null,
  checklistDone: false,
  queue: Promise.resolve(),
  errors: [],          // the last few protocol errors, for support (and tests)
  early: [],           // offers and candidates that came before we knew we were admitted
};

// Consent-gated recording lives in recording.js; these are its only hooks here.
const rec = recording({ send, stream: () => call.local, welcome: () => call.welcome,
  audioOnly: () => call.audioOnly, practitioner: PRACTITIONER });

// Leg health (legs.js): each peer connection reported, repaired, and shown in plain words.
const health = legHealth({ links: () => call.links, send, text: T, practitioner: PRACTITIONER,
  roster: () => call.roster, me: () => call.me, active: () => call.phase === "in",
  relayPossible: () => (call.welcome?.ice_servers || []).some((s) => [].concat(s.urls).some((u) => /^turns?:/.test(u))) });

// --- small page helpers -------------------------------------------------------------------

function status(text) {
  $("call-status").textContent = text;
}

function show(id, visible) {
  const el = $(id);
  if (el) el.hidden = !visible;
}

function element(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(el.dataset, value);
    else if (key in el) el[key] = value;
    else el.setAttribute(key, value);
  }
  el.append(...children);
  return el;
}

function confirmAction(text) {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

function timeOf(iso) {
  // One convention on every page: 24-hour, in the organisation's time zone.
  return new Date(iso).toLocaleTimeString(document.documentElement.lang, { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: root.dataset.zone || undefined });
}

// --- camera and microphone ----------------------------------------------------------------

// Inclusion (#7): phones send modest video by default (less data, less heat, older chips).
const PHONE_VIDEO = matchMedia("(max-width: 40rem), (pointer: coarse)").matches
  ? { width: { ideal: 480 }, height: { ideal: 360 }, frameRate: { ideal: 15 } } : null;

async function openMedia() {
  const devices = navigator.mediaDevices;
  const attempts = [
    [{ audio: true, video: PHONE_VIDEO || { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 24 } } }, null],
    [{ audio: true }, T.no_camera],
  ];
  if (devices && devices.getUserMedia) {
    for (const [constraints, note] of attempts) {
      try {
        const stream = await devices.getUserMedia(constraints);
        return [stream, note];
      } catch (err) {
        console.warn("getUserMedia", constraints, err.name);
        call.mediaError = call.mediaError || err.name; // the first refusal says why (failure.js)
      }
    }
  }
  return [new MediaStream(), T.no_media];
}

function track(kind) {
  return call.local.getTracks().find((t) => t.kind === kind) || null;
}

function sendMediaState() {
  send({ type: "media", audio: call.audio, video: call.video && !call.audioOnly });
}

// On coming in: the camera and microphone state, unless the roster already says it (each
// "media" is a write and a roster round, which would hold up the first offer; issue #17).
function syncMediaState() {
  const known = call.roster.find((p) => p.id === call.me?.id)?.media;
  if (known && known.audio === call.audio && known.video === (call.video && !call.audioOnly)) return;
  sendMediaState();
}

// --- the WebSocket ----------------------------------------------------------------------

function send(message) {
  const ws = call.socket;
  if (!ws || ws.readyState !== WebSocket.OPEN) return false;
  ws.send(JSON.stringify(message));
  return true;
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const ws = new WebSocket(scheme + location.host + "/signal");
  call.socket = ws;
  status(call.everWelcomed ? T.reconnecting : T.connecting);
  ws.addEventListener("open", () => {
    const hello = { type: "hello", version: 1, resume: call.everWelcomed };
    if (APPOINTMENT !== null) hello.appointment = APPOINTMENT;
    ws.send(JSON.stringify(hello));
  });
  ws.addEventListener("message", (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    // One message at a time: SDP and candidates must be applied in the order they came.
    call.queue = call.queue.then(() => handle(message)).catch((err) => console.error("signalling", err));
  });
  ws.addEventListener("close", (event) => closed(ws, event.code));
}

function closed(ws, code) {
  if (ws !== call.socket || call.final) return;
  if (FINAL_CLOSE.has(code)) {
    const kinds = { 1000: "left", 4409: "replaced", 4410: "ended" };
    finish(kinds[code] || "gone");
    return;
  }
  // 4503: the process is draining (a deploy): reconnect at once, to any process, jittered.
  const delay = code === 4503 ? Math.random() * 500 : Math.min(1000 * 2 ** call.attempts, 10000);
  call.attempts = code === 4503 ? 0 : call.attempts + 1;
  // Never got through after several tries (about 15 s): say what to do; keep trying.
  if (!call.everWelcomed && call.attempts === UNREACHABLE_AFTER) reportFailure("signalling_unreachable", devices());
  status(T.reconnecting);
  setTimeout(() => {
    if (!call.final && call.socket === ws) connect();
  }, delay);
}

window.addEventListener("online", () => {
  const ws = call.socket;
  if (!call.final && ws && ws.readyState === WebSocket.CLOSED) {
    call.attempts = 0;
    connect();
  }
});

// --- messages from the server -----------------------------------------------------------

async function handle(m) {
  switch (m.type) {
    case "welcome": return welcomed(m);
    case "roster": return rostered(m);
    case "waiting":
      $("waiting-since").textContent = fill(T.waiting_since, { time: timeOf(m.since) });
      if (call.checklistDone || !call.welcome.checklist) enter("waiting");
      return;
    case "admitted":
      call.me.state = "admitted";
      enter("in");
      syncMediaState();
      syncLinks();
      return replayEarly();
    case "checklist-result": return checked(m);
    case "offer":
    case "answer":
    case "candidate":
      if (call.me?.state !== "admitted") {
        // A peer may hear that we are admitted a moment before we do: keep its messages.
        call.early.push(m);
        return;
      }
      return negotiate(m);
    case "media": {
      const person = call.roster.find((p) => p.id === m.from);
      if (person) person.media = { audio: m.audio, video: m.video };
      renderTiles();
      return;
    }
    case "link-locked":
      status(fill(T.link_locked, { name: m.name || T.role_client })); // #14: never "null's"
      return;
    case "denied":
    case "removed":
    case "ended":
    case "replaced":
      finish(m.type);
      return;
    case "consent-prompt":
    case "recording":
    case "recorder-answer":
      return rec.handle(m);
    case "legs":
    case "repair":
      return health.handle(m);
    case "error": return failed(m);
    default: // the waiting-room note and the chat (#14: waiting_alert.js, chat.js)
      return signal(m);
  }
}

async function negotiate(m) {
  if (m.type === "candidate") {
    const link = call.links.get(m.from);
    if (link) await link.candidate(m.candidate, m.generation);
    return;
  }
  const link = linkFor(m.from);
  if (link) await link.description(m.type, m.sdp, m.generation);
}

async function replayEarly() {
  if (call.me?.state !== "admitted") return;
  const early = call.early;
  call.early = [];
  for (const m of early) await negotiate(m);
}

function welcomed(m) {
  const resumed = call.everWelcomed;
  call.welcome = m;
  call.me = { ...m.you };
  call.everWelcomed = true;
  call.attempts = 0;
  const checklist = m.checklist;
  call.checklistDone = call.checklistDone || !checklist || checklist.answered;
  if (!call.checklistDone) {
    renderChecklist();
    enter("checklist");
  } else if (m.you.state === "admitted") {
    enter("in");
    sendMediaState();
  } else {
    enter("waiting");
  }
  if (resumed) {
    // Signalling is back: connections that broke meanwhile are mended from the impolite side.
    for (const link of call.links.values()) link.mendIfBroken();
  }
}

async function rostered(m) {
  if (m.version < call.rosterVersion) return;
  call.rosterVersion = m.version;
  call.roster = m.participants;
  const me = call.roster.find((p) => call.me && p.id === call.me.id);
  if (me) call.me.state = me.state;
  syncLinks();
  renderTiles();
  if (PRACTITIONER) renderLobby();
  // Said again only when who is in the call changes: a roster for anything else (pre-call
  // figures, a camera turned off) must not wipe a notice such as a link that locked.
  const others = call.roster.filter((p) => p.state === "admitted" && p.id !== call.me?.id).length;
  if (call.phase === "in" && others !== call.shownOthers) {
    call.shownOthers = others;
    status(others === 0 ? (PRACTITIONER ? T.practitioner_ready : T.alone) : T.admitted);
  }
  await replayEarly();
}

function checked(m) {
  if (m.passed) {
    call.checklistDone = true;
    show("checklist-failed", false);
    if (call.me.state === "admitted") {
      enter("in");
      sendMediaState();
      syncLinks();
    } else {
      enter("waiting");
    }
    return;
  }
  if (!m.complete && m.failed.length === 0) {
    status(T.checklist_unanswered);
    return;
  }
  const list = $("alternatives");
  list.replaceChildren(...m.alternatives.map((a) => element("li", { textContent: a.text, dataset: { id: a.id } })));
  show("checklist", false);
  show("checklist-failed", true);
  $("checklist-failed").focus();
}

function failed(m) {
  call.errors = [...call.errors.slice(-9), { code: m.code, ref: m.ref || null, message: m.message }];
  if (["chat", "running-late", "chat-history"].includes(m.ref)) return signal(m);
  if (rec.failed(m)) return;
  if (m.code === "admission_refused" && PRACTITIONER) {
    if (m.participant != null) unprepare(m.participant);
    $("lobby-reasons").replaceChildren(...(m.reasons || []).map((r) =>
      element("li", {}, element("strong", { textContent: r.title }), " ", r.message, " ",
        element("span", { className: "hint", textContent: r.remedy }))));
    show("lobby-refused", true);
    $("lobby-refused").focus();
    return;
  }
  if (m.code === "session_ended") {
    finish("ended");
    return;
  }
  if (m.code === "unsupported_version") {
    status(T.version);
    return;
  }
  status(fill(T.error, { message: m.message }));
}

// --- what the page shows --------------------------------------------------------------------

function enter(phase) {
  call.phase = phase;
  call.shownOthers = null; // the status line says the phase; the next roster says who is in
  show("checklist", phase === "checklist");
  if (phase !== "checklist") show("checklist-failed", false);
  show("waiting", phase === "waiting");
  show("stage", phase === "in" || (PRACTITIONER && phase !== "final"));
  if (phase === "checklist") status(T.checklist);
  if (phase === "waiting") status(T.waiting);
  if (phase === "in") status(T.admitted);
}

function finish(kind) {
  if (call.final) return;
  call.final = kind;
  call.phase = "final";
  for (const link of call.links.values()) link.close();
  call.links.clear();
  for (const id of [...call.prepared.keys()]) unprepare(id);
  rec.close();
  for (const t of call.local.getTracks()) t.stop();
  for (const id of ["checklist", "checklist-failed", "waiting", "stage", "side"]) show(id, false);
  const socket = call.socket;
  if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000);
  $("finished-title").textContent = T[`${kind}_title`] || T.gone_title;
  $("finished-text").textContent = T[`${kind}_text_${ROLE}`] || T[`${kind}_text`] || T.gone_text;
  status(T[`${kind}_title`] || T.gone_title);
  show("finished", true);
  $("finished").focus();
}

function renderChecklist() {
  const checklist = call.welcome.checklist;
  const home = PRACTITIONER && document.querySelector("input[name=location]:checked")?.value === "home";
  const items = home ? checklist.home_items : checklist.items;
  const box = $("checklist-items");
  const legend = box.querySelector("legend");
  box.replaceChildren(legend, ...items.map((item, index) => {
    const name = `item-${index}`;
    const yes = element("input", { type: "radio", name, value: "yes", id: `${name}-yes` });
    const no = element("input", { type: "radio", name, value: "no", id: `${name}-no` });
    yes.dataset.item = item.id;
    return element("fieldset", { className: "item" },
      element("legend", { textContent: item.wording }),
      element("div", { className: "check" }, yes, element("label", { htmlFor: yes.id, textContent: T.yes })),
      element("div", { className: "check" }, no, element("label", { htmlFor: no.id, textContent: T.no })));
  }));
}

function submitChecklist(event) {
  event.preventDefault();
  const answers = {};
  let missing = null;
  for (const group of $("checklist-items").querySelectorAll("fieldset.item")) {
    const yes = group.querySelector("input[value=yes]");
    const chosen = group.querySelector("input:checked");
    if (!chosen && !missing) missing = yes;
    answers[yes.dataset.item] = chosen ? chosen.value === "yes" : false;
  }
  if (missing) {
    status(T.checklist_unanswered);
    missing.focus();
    return;
  }
  const message = { type: "checklist", answers };
  if (PRACTITIONER) message.location = document.querySelector("input[name=location]:checked").value;
  send(message);
}

function label(person) {
  return person.id === call.me?.id ? `${person.name} (${T.you})` : `${person.name} (${T[`role_${person.role}`] || person.role})`;
}

function renderTiles() {
  const list = $("tiles");
  const admitted = call.roster.filter((p) => p.state === "admitted");
  const seen = new Set();
  for (const person of admitted) {
    seen.add(String(person.id));
    let tile = list.querySelector(`li[data-id="${person.id}"]`);
    if (!tile) {
      const mine = person.id === call.me?.id;
      const video = element("video", { autoplay: true, playsInline: true, muted: mine });
      video.setAttribute("aria-hidden", "true");
      if (mine) playPreview(video, call.local);
      tile = element("li", { className: mine ? "tile me" : "tile", dataset: { id: String(person.id) } },
        video, element("p", { className: "name" }), element("p", { className: "quality hint" }));
      if (PRACTITIONER && !mine) {
        const remove = element("button", { type: "button", className: "link remove", textContent: T.remove });
        remove.addEventListener("click", async () => {
          if (await confirmAction(fill(T.confirm_remove, { name: person.name }))) {
            send({ type: "remove", participant: person.id });
          }
        });
        tile.append(remove);
      }
      list.append(tile);
      const link = call.links.get(person.id);
      if (link && link.stream) video.srcObject = link.stream;
    }
    if (person.id === call.me?.id) playPreview(tile.querySelector("video"), call.local);
    const notes = [];
    const media = person.media || { audio: true, video: true };
    if (!media.audio) notes.push(T.muted);
    if (!media.video) notes.push(T.camera_off);
    tile.querySelector(".name").textContent = label(person) + (notes.length ? ` · ${notes.join(", ")}` : "");
    tile.classList.toggle("no-video", !media.video);
  }
  for (const tile of [...list.children]) if (!seen.has(tile.dataset.id)) tile.remove();
  list.dataset.count = String(list.children.length);
}

function checklistSummary(person) {
  const c = person.checklist;
  if (!c || !c.complete) return T.checklist_missing;
  if (!c.passed) return T.checklist_failed;
  return c.advisory.length ? T.checklist_advisory : T.checklist_passed;
}

function renderLobby() {
  // Also those who tried and could not get going (failure.js): the practitioner sees why.
  const waiting = call.roster.filter((p) => p.state === "waiting" && (p.connected || p.precall?.failure));
  // A person's entry, and its "Let in" and "Turn away" buttons, stay the same elements while
  // they wait; only the words about them are redrawn. So a roster update (someone else
  // arriving, their own pre-call figures coming in) never takes a button from under a
  // pointer or hands it to someone else (#13: both let in at once).
  const list = $("lobby-list");
  const kept = new Map([...list.children].map((li) => [li.dataset.id, li]));
  const entries = waiting.map((person) => {
    const li = kept.get(String(person.id)) || lobbyEntry(person);
    describeWaiting(li, person);
    return li;
  });
  entries.forEach((li, i) => { if (list.children[i] !== li) list.insertBefore(li, list.children[i] || null); });
  for (const li of [...list.children]) if (!entries.includes(li)) li.remove();
  show("lobby-empty", waiting.length === 0);
}

function lobbyEntry(person) {
  const admit = element("button", { type: "button", className: "admit", textContent: T.admit });
  admit.addEventListener("click", () => {
    show("lobby-refused", false);
    if (send({ type: "admit", participant: person.id })) {
      prepare(call.roster.find((p) => p.id === person.id) || person);
    }
  });
  const deny = element("button", { type: "button", className: "quiet deny", textContent: T.deny });
  deny.addEventListener("click", () => send({ type: "deny", participant: person.id }));
  return element("li", { dataset: { id: String(person.id) } },
    element("div", { className: "about" }), element("div", { className: "actions" }, admit, deny));
}

function describeWaiting(li, person) {
  const key = JSON.stringify(person);
  if (li.dataset.key === key) return;
  li.dataset.key = key;
  const failedItems = person.checklist && !person.checklist.passed ? person.checklist.failed : [];
  li.querySelector(".about").replaceChildren(
    element("strong", { textContent: label(person) }),
    element("p", { className: "hint", textContent: `${fill(T.waiting_since, { time: timeOf(person.waiting_since) })} ${checklistSummary(person)}` }),
    ...(failedItems.length ? [element("p", { className: "hint failed-items", textContent: failedItems.join(", ") })] : []),
    ...(person.precall && window.rapportPrecall ? [element("p", { className: "hint precall-summary", textContent: window.rapportPrecall.describe(person.precall) })] : []),
    ...(person.precall?.failure ? [element("p", { className: "hint failure-summary", textContent: describeFailure(person.precall.failure) })] : []));
  li.querySelector(".admit").setAttribute("aria-label", `${T.admit}: ${person.name}`);
  li.querySelector(".deny").setAttribute("aria-label", `${T.deny}: ${person.name}`);
  // Only someone still connected can be let in; the buttons come back when they do.
  li.querySelector(".actions").hidden = !person.connected;
}

// --- peer connections -----------------------------------------------------------------------

class Link {
  constructor(peer, held = false) {
    this.id = peer.id;
    this.epoch = peer.epoch;
    this.polite = call.me.id > peer.id;
    this.quality = "connecting";
    this.rescues = 0; // how often the watchdog had to start negotiation over
    this.held = held ? [] : null; // what it would say, kept until the person is let in
    this.open(false);
  }

  say(message) {
    if (this.held) this.held.push(message);
    else send(message);
  }

  release() {
    const held = this.held || [];
    this.held = null;
    for (const message of held) send(message);
  }

  // A peer connection for this pair. The impolite side offers and lays out the transceivers
  // (negotiation.js); the polite side only answers, attaching its tracks to the offer's.
  open(relay) {
    const pc = new RTCPeerConnection({
      iceServers: call.welcome.ice_servers,
      iceTransportPolicy: relay ? "relay" : call.welcome.ice_transport_policy,
      // One transport for sound and picture from the start: half the candidates to gather
      // and check, so the pair connects sooner (both sides are browsers that bundle).
      bundlePolicy: "max-bundle",
    });
    Object.assign(this, { pc, relay, makingOffer: false, ignoreOffer: false, stream: null,
      last: null, sample: null, stuckSince: 0, failedAt: 0, early: [], born: Date.now() });
    if (!this.polite) {
      // Only the offering side numbers its peer connections; the other side adopts them.
      this.generation = Math.max(Date.now(), (this.generation || 0) + 1);
      createLayout(pc, call.local, call.audioOnly);
    }
    pc.addEventListener("negotiationneeded", async () => {
      if (pc !== this.pc) return;
      try {
        this.makingOffer = true;
        await pc.setLocalDescription();
        // An offer, or an answer when a remote offer overtook this one: say which.
        const { type, sdp } = pc.localDescription;
        this.say({ type, to: this.id, sdp, generation: this.generation });
      } catch (err) {
        console.warn("offer", err);
      } finally {
        this.makingOffer = false;
      }
    });
    pc.addEventListener("icecandidate", ({ candidate }) => {
      if (pc !== this.pc) return;
      this.say({ type: "candidate", to: this.id, candidate: candidate ? candidate.toJSON() : null, generation: this.generation });
    });
    pc.addEventListener("track", ({ track: incoming, streams }) => {
      if (pc !== this.pc) return;
      this.stream = streams[0] || this.stream || new MediaStream();
      if (!streams[0]) this.stream.addTrack(incoming);
      const video = $("tiles").querySelector(`li[data-id="${this.id}"] video`);
      if (video && video.srcObject !== this.stream) video.srcObject = this.stream;
    });
    pc.addEventListener("iceconnectionstatechange", () => {
      if (pc !== this.pc) return;
      const state = pc.iceConnectionState;
      if (state === "failed") this.restart();
      this.failedAt = state === "failed" ? this.failedAt || Date.now() : 0;
      if (state === "disconnected") {
        setTimeout(() => { if (pc === this.pc && pc.iceConnectionState === "disconnected") this.restart(); }, 3000);
      }
    });
  }

  // A fresh peer connection for this pair (relay-only when asked): the impolite side offers
  // anew; the polite side follows when an offer with a new certificate arrives.
  renew(relay = false) {
    const old = this.pc;
    this.open(relay);
    old.close();
  }

  async applyAudioOnly() {
    // The polite side has no transceivers until the first offer; it attaches then.
    if (this.polite && !this.pc.remoteDescription) return;
    await attachTracks(this.pc, call.local, call.audioOnly);
  }

  restart() {
    // The impolite side restarts; the polite side's offer would only collide with it.
    if (!this.polite && this.pc.signalingState !== "closed") this.pc.restartIce();
  }

  mendIfBroken() {
    const state = this.pc.iceConnectionState;
    if (state === "failed" || state === "disconnected") this.restart();
  }

  // Is a description or candidate of this pair's current peer connection? One of an older
  // one is dropped; an offer of a newer one makes the polite side start afresh too.
  current(generation, type) {
    if (generation == null || !this.generation || generation === this.generation) return true;
    if (generation < this.generation || !this.polite || type !== "offer") return false;
    this.renew(this.relay);
    return true;
  }

  async description(type, sdp, generation = null, retried = false) {
    if (!this.current(generation, type)) return;
    if (this.polite && generation != null) this.generation = generation;
    const pc = this.pc;
    const collision = type === "offer" && (this.makingOffer || pc.signalingState !== "stable");
    this.ignoreOffer = !this.polite && collision;
    if (this.ignoreOffer) return;
    try {
      await pc.setRemoteDescription({ type, sdp }); // rolls our own offer back if we are polite
      await this.addEarly();
      if (type === "offer") {
        await attachTracks(pc, call.local, call.audioOnly); // our media on the offer's m-lines
        await pc.setLocalDescription();
        // Usually the answer; an offer when our own negotiation got in first. Say which.
        this.say({ type: pc.localDescription.type, to: this.id, sdp: pc.localDescription.sdp, generation: this.generation });
      }
    } catch (err) {
      console.warn("description", type, err);
      // An offer this connection cannot take (it began afresh on the other side): follow it.
      if (type === "offer" && this.polite && !retried) {
        this.renew(this.relay);
        await this.description(type, sdp, generation, true);
      }
    }
  }

  async candidate(candidate, generation = null) {
    if (!candidate || !this.current(generation, "candidate")) return;
    if (!this.pc.remoteDescription) {
      // Candidates can overtake the description they belong to (an offer we ignored, then
      // the answer to ours from the same ICE agent): keep them until it is set.
      this.early.push(candidate);
      return;
    }
    try {
      await this.pc.addIceCandidate(candidate);
    } catch (err) {
      if (!this.ignoreOffer) console.warn("candidate", err);
    }
  }

  async addEarly() {
    for (const candidate of this.early.splice(0)) await this.candidate(candidate);
  }

  async stats() {
    const report = await this.pc.getStats();
    const out = { id: this.id, ice: this.pc.iceConnectionState, audioBytes: 0, videoBytes: 0,
      packetsReceived: 0, packetsLost: 0, rtt: null, localCandidate: null, remoteCandidate: null };
    let pair = null;
    report.forEach((s) => {
      if (s.type === "inbound-rtp") {
        if (s.kind === "audio") out.audioBytes += s.bytesReceived || 0;
        if (s.kind === "video") out.videoBytes += s.bytesReceived || 0;
        out.packetsReceived += s.packetsReceived || 0;
        out.packetsLost += Math.max(0, s.packetsLost || 0);
      }
      if (s.type === "outbound-rtp") out.bytesSent = (out.bytesSent || 0) + (s.bytesSent || 0); // stats.js
      if (s.type === "transport" && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId);
      // What the other side reports losing of ours (RTCP receiver reports): fallback.js.
      if (s.type === "remote-inbound-rtp") out.remoteLoss = Math.max(out.remoteLoss || 0, s.fractionLost || 0);
    });
    if (pair) {
      out.rtt = pair.currentRoundTripTime ?? null;
      out.localCandidate = report.get(pair.localCandidateId)?.candidateType ?? null;
      out.remoteCandidate = report.get(pair.remoteCandidateId)?.candidateType ?? null;
      out.available = pair.availableOutgoingBitrate ?? null; // Chromium's estimate: fallback.js
    }
    return out;
  }

  watch() {
    // A negotiation that went nowhere (an offer lost while someone reconnected): start over.
    const pc = this.pc;
    if (this.failedAt && pc.iceConnectionState === "failed" && Date.now() - this.failedAt > ICE_FAILED_MS) {
      reportFailure("ice_failed", devices()); // restarts did not mend it: "if nothing works"
    }
    if (this.polite) return; // the impolite side starts stuck negotiations over; the polite side follows
    const stuck = pc.signalingState === "have-local-offer"
      || (pc.iceConnectionState === "new" && pc.signalingState === "stable");
    this.stuckSince = stuck ? this.stuckSince || Date.now() : 0;
    // Each rescue waits twice as long as the one before (at most 8 times): a loaded machine
    // may need more than 5 s to connect, and starting afresh again would never let it.
    if (stuck && Date.now() - this.stuckSince > STUCK_MS * 2 ** Math.min(this.rescues, 3)) {
      this.stuckSince = 0;
      this.rescues += 1;
      this.renegotiate();
    }
  }

  renegotiate() {
    // An answer never came: the other side may hold half of this negotiation, so rolling
    // back and offering again could reorder its m-lines. Start the pair afresh.
    if (this.pc.signalingState === "have-local-offer") this.renew(this.relay);
    // Negotiated but ICE never began: an ICE restart on the same layout is enough.
    else this.pc.restartIce();
  }

  async measure() {
    this.watch();
    const now = await this.stats();
    const connected = now.ice === "connected" || now.ice === "completed";
    let quality = "connecting";
    if (connected) {
      const before = this.last || { packetsReceived: 0, packetsLost: 0 };
      const received = now.packetsReceived - before.packetsReceived;
      const lost = now.packetsLost - before.packetsLost;
      const loss = received + lost > 0 ? lost / (received + lost) : 0;
      const rtt = now.rtt ?? 0;
      quality = loss < 0.02 && rtt < 0.3 ? "good" : loss < 0.08 && rtt < 0.6 ? "fair" : "poor";
      // For the automatic audio-only fallback (fallback.js); the estimate only speaks for
      // video while video is being sent.
      const sendingVideo = call.video && !call.audioOnly && now.available !== null;
      this.sample = { loss: Math.max(loss, now.remoteLoss || 0), rtt,
        kbps: sendingVideo ? now.available / 1000 : null };
    } else {
      this.sample = null;
    }
    this.last = now;
    if (quality !== this.quality) {
      this.quality = quality;
      const tile = $("tiles").querySelector(`li[data-id="${this.id}"] .quality`);
      if (tile) tile.textContent = T[`quality_${quality}`];
    }
  }

  close() {
    this.pc.close();
  }
}

function linkFor(id) {
  let link = call.links.get(id);
  if (!link && call.me?.state === "admitted") {
    const peer = call.roster.find((p) => p.id === id) || { id, epoch: 0 };
    link = new Link(peer);
    call.links.set(id, link);
  }
  return link;
}

function syncLinks() {
  if (!call.me || call.me.state !== "admitted" || call.final) return;
  const others = new Map(call.roster.filter((p) => p.id !== call.me.id && p.state === "admitted").map((p) => [p.id, p]));
  for (const [id, link] of call.links) {
    const peer = others.get(id);
    // Gone, or their page started afresh (a new epoch): this connection cannot be mended.
    if (!peer || (peer.epoch !== link.epoch && link.epoch !== 0)) {
      link.close();
      call.links.delete(id);
    } else if (link.epoch === 0) {
      link.epoch = peer.epoch;
    }
  }
  // A peer whose WebSocket dropped keeps its connection; a new one waits until it is back.
  for (const [id, peer] of others) {
    if (!call.links.has(id) && peer.connected) call.links.set(id, readied(peer) || new Link(peer));
  }
  for (const [id, link] of call.prepared) {
    const peer = call.roster.find((p) => p.id === id);
    if (!peer || peer.state !== "waiting" || !peer.connected) unprepare(id);
    else if (Date.now() - link.born > PREPARED_MS) unprepare(id);
  }
}

// "Let in" pressed: while the server decides, the offering side gets its peer connection,
// offer and candidates ready in this browser; nothing is sent until the roster says the
// person is in (issue #17: admission to media). A refusal or a departure throws it away.
function prepare(person) {
  if (!call.me || call.me.state !== "admitted" || call.prepared.has(person.id)) return;
  if (call.links.has(person.id) || call.me.id > person.id) return; // the polite side only answers
  call.prepared.set(person.id, new Link(person, true));
}

function readied(peer) {
  const link = call.prepared.get(peer.id);
  if (!link) return null;
  call.prepared.delete(peer.id);
  if (link.epoch !== peer.epoch) {
    link.close();
    return null;
  }
  link.release();
  return link;
}

function unprepare(id) {
  call.prepared.get(id)?.close();
  call.prepared.delete(id);
}

setInterval(() => {
  for (const link of call.links.values()) link.measure().catch(() => {});
}, STATS_EVERY_MS);

// --- controls -----------------------------------------------------------------------------

function renderControls() {
  const mute = $("mute");
  const camera = $("camera");
  mute.hidden = !track("audio");
  camera.hidden = !track("video");
  mute.textContent = call.audio ? T.mute : T.unmute;
  mute.setAttribute("aria-pressed", String(!call.audio));
  camera.textContent = call.video ? T.camera_stop : T.camera_start;
  camera.setAttribute("aria-pressed", String(!call.video));
  camera.disabled = call.audioOnly;
  $("audio-only").setAttribute("aria-pressed", String(call.audioOnly));
}

// Audio only: no video leaves this browser (the senders carry no track, so no bytes), and
// none comes in (the video transceivers go inactive, renegotiated). Cheaper on a poor line;
// undone the same way.
async function setAudioOnly(on) {
  call.audioOnly = on;
  const camera = track("video");
  if (camera) camera.enabled = !on && call.video;
  for (const link of call.links.values()) await link.applyAudioOnly();
  $("tiles").classList.toggle("audio-only", on);
  renderControls();
  fb.changed(on);
  // Only once admitted (#14: a weak pre-call check in the waiting room was answered
  // "not_admitted"); admission sends the media state anyway.
  if (call.me?.state === "admitted") send({ type: "media", audio: call.audio, video: !on && call.video && Boolean(camera) });
  status(on ? T.audio_only_on : T.audio_only_off);
}

$("audio-only").addEventListener("click", () => setAudioOnly(!call.audioOnly));

// Inclusion (#7): audio only by itself when the line stays weak during the call (fallback.js).
const fb = fallback({ samples: () => [...call.links.values()].map((l) => l.sample),
  audioOnly: () => call.audioOnly, setAudioOnly, text: T });
setInterval(() => { if (call.phase === "in") fb.tick(); }, STATS_EVERY_MS);

$("mute").addEventListener("click", () => {
  const t = track("audio");
  if (!t) return;
  call.audio = !call.audio;
  t.enabled = call.audio;
  renderControls();
  sendMediaState();
});

$("camera").addEventListener("click", () => {
  const t = track("video");
  if (!t) return;
  call.video = !call.video;
  t.enabled = call.video;
  renderControls();
  sendMediaState();
});

$("leave").addEventListener("click", async () => {
  if (await confirmAction(T.confirm_leave)) send({ type: "leave" });
});

$("end")?.addEventListener("click", async () => {
  if (await confirmAction(T.confirm_end)) send({ type: "end" });
});

$("checklist").addEventListener("submit", submitChecklist);
$("checklist-again").addEventListener("click", () => {
  enter("checklist");
  $("checklist-items").querySelector("input")?.focus();
});
for (const radio of document.querySelectorAll("input[name=location]")) {
  radio.addEventListener("change", () => { if (call.welcome) renderChecklist(); });
}

// The practitioner's invite panel: invite.js.

// --- for tests and support: a read-only view of the call ------------------------------------

window.rapportCall = {
  state: () => ({ phase: call.phase, final: call.final, me: call.me && { ...call.me },
    socket: call.socket ? call.socket.readyState : null, rosterVersion: call.rosterVersion,
    errors: [...call.errors] }),
  peers: () => [...call.links.values()].map((l) => ({ id: l.id, epoch: l.epoch, polite: l.polite,
    ice: l.pc.iceConnectionState, signaling: l.pc.signalingState, connection: l.pc.connectionState, quality: l.quality,
    rescues: l.rescues, sample: l.sample, generation: l.generation, relay: l.relay,
    layout: l.pc.getTransceivers().map((t) => `${t.mid}:${t.receiver.track.kind}`),
    video: l.pc.getTransceivers().filter((t) => t.receiver.track.kind === "video").map((t) => t.currentDirection) })),
  stats: () => Promise.all([...call.links.values()].map((l) => l.stats())),
  socket: () => call.socket,
  // Device choice (devices.js): the own stream and every sender of it, to swap a track in.
  local: () => call.local,
  senders: () => [...[...call.links.values()].flatMap((l) => l.pc.getSenders()), ...rec.senders()],
  recording: () => rec.view(),
  fallback: () => fb.view(),
  failure: () => failureView(),
  legs: () => health.view(),
  renew: (peer) => health.renew(peer),
};

// --- start ----------------------------------------------------------------------------------

async function start() {
  status(T.connecting);
  const [stream, note] = await openMedia();
  call.local = stream;
  call.audio = Boolean(track("audio"));
  call.video = Boolean(track("video"));
  renderControls();
  connect();
  if (note) {
    $("media-note").textContent = note;
    show("media-note", true);
  }
  if (!track("audio") && !track("video")) {
    const denied = ["NotAllowedError", "SecurityError"].includes(call.mediaError);
    reportFailure(denied ? "media_denied" : "media_missing", devices());
  }
}

function devices() {
  return { camera: Boolean(track("video")), microphone: Boolean(track("audio")) };
}

// Inclusion (#7): a "weak" pre-call check starts the call audio only (web/static/precall.js).
window.addEventListener("rapport:precall", (event) => {
  if (event.detail.verdict === "weak" && !call.audioOnly) setAudioOnly(true);
});

start();
