// Device choice and screen sharing (#14): camera, microphone and speaker, chosen in the side panel and switched
// in the call without renegotiating (RTCRtpSender.replaceTrack on every sender of the old
// track: each peer connection and the recorder's); remembered on this device (localStorage).
// A device that disappears mid-call (an unplugged headset) is replaced by another of its kind,
// and the page says so. The panel is built here from #talk-text, to keep the page light.

const $ = (id) => document.getElementById(id);
const T = JSON.parse($("talk-text").textContent);
const fill = (text, values) => text.replace(/\{(\w+)\}/g, (m, key) => (key in values ? values[key] : m));
const KINDS = { videoinput: "video", audioinput: "audio" };
const KEY = (kind) => `rapport.device.${kind}`;
const view = { switched: 0, lost: 0 };
const api = () => window.rapportCall;

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

const panel = el("section", { id: "devices", className: "panel", hidden: true });
panel.setAttribute("aria-labelledby", "devices-title");
const selects = {};
panel.append(el("h2", { id: "devices-title", textContent: T.devices }));
for (const [kind, label] of [["videoinput", T.camera], ["audioinput", T.microphone], ["audiooutput", T.speaker]]) {
  const select = el("select", { id: `device-${kind}` });
  selects[kind] = select;
  panel.append(el("div", { className: `device device-${kind}` }, el("label", { htmlFor: select.id, textContent: label }), select));
  select.addEventListener("change", () => choose(kind, select.value, true));
}
const note = el("p", { id: "device-note", className: "hint" });
note.setAttribute("aria-live", "polite");
panel.append(note);
$("side").append(panel);

function current(kind) {
  return api()?.local().getTracks().find((t) => t.kind === KINDS[kind]) || null;
}

async function list() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  for (const kind of Object.keys(selects)) {
    const mine = devices.filter((d) => d.kind === kind && d.deviceId);
    const select = selects[kind];
    const chosen = kind === "audiooutput" ? localStorage.getItem(KEY(kind)) || "" : current(kind)?.getSettings().deviceId;
    select.replaceChildren(...mine.map((d, i) => el("option", { value: d.deviceId, textContent: d.label || `${kind} ${i + 1}`, selected: d.deviceId === chosen })));
    select.parentElement.hidden = mine.length === 0 || (kind === "audiooutput" && !("setSinkId" in HTMLMediaElement.prototype));
  }
  return devices;
}

// Swap this kind's track for one from `deviceId` on the own stream and every sender of it.
async function swap(kind, deviceId) {
  const old = current(kind);
  const constraints = { [KINDS[kind]]: { deviceId: { exact: deviceId } } };
  const fresh = (await navigator.mediaDevices.getUserMedia(constraints)).getTracks()[0];
  fresh.enabled = old ? old.enabled : true;
  const local = api().local();
  for (const sender of api().senders()) if (old && sender.track === old) await sender.replaceTrack(fresh);
  if (old === camera) camera = fresh; // while sharing, the camera comes back as the new one
  if (old) { local.removeTrack(old); old.stop(); }
  local.addTrack(fresh);
  watch(kind, fresh);
  view.switched += 1;
  return fresh;
}

async function choose(kind, deviceId, remember) {
  if (remember) localStorage.setItem(KEY(kind), deviceId);
  if (kind === "audiooutput") {
    for (const video of document.querySelectorAll("#tiles video")) video.setSinkId?.(deviceId).catch(() => {});
    return;
  }
  if (current(kind)?.getSettings().deviceId === deviceId) return;
  try {
    await swap(kind, deviceId);
  } catch (err) {
    console.warn("device", kind, err.name);
    note.textContent = T.device_failed;
  }
  await list();
}

// An unplugged device: its track ends; another of its kind takes over.
async function lost(kind) {
  if (api()?.state().phase !== "in") return;
  const devices = await list();
  const other = devices.find((d) => d.kind === kind && d.deviceId && d.deviceId !== current(kind)?.getSettings().deviceId);
  view.lost += 1;
  if (!other) { note.textContent = fill(T.device_gone, { device: selects[kind].previousSibling?.textContent || "" }); return; }
  await swap(kind, other.deviceId).catch(() => {});
  note.textContent = fill(T.device_replaced, { device: other.label || "" });
  await list();
}

// Every track the call sends, the first ones included, is watched for its device going away.
const watched = new WeakSet();
function watch(kind, track) {
  if (!track || watched.has(track)) return;
  watched.add(track);
  track.addEventListener("ended", () => lost(kind));
}
navigator.mediaDevices?.addEventListener("devicechange", () => { if (!panel.hidden) list(); });

// In the call: show the panel; the remembered devices take over once.
let started = false;
setInterval(async () => {
  const inCall = api()?.state().phase === "in";
  panel.hidden = !inCall || !navigator.mediaDevices?.enumerateDevices;
  // The chosen speaker for tiles that came since (someone new let in).
  const sink = localStorage.getItem(KEY("audiooutput"));
  if (sink) for (const video of document.querySelectorAll("#tiles video")) if (video.setSinkId && video.sinkId !== sink) video.setSinkId(sink).catch(() => {});
  if (inCall) for (const kind of Object.keys(KINDS)) watch(kind, current(kind));
  if (!inCall || started) return;
  started = true;
  await list();
  for (const kind of Object.keys(selects)) {
    const saved = localStorage.getItem(KEY(kind));
    if (saved && [...selects[kind].options].some((o) => o.value === saved)) await choose(kind, saved, false);
  }
}, 700);

// Screen sharing (the practitioner's): the screen's picture takes the camera's place on every
// sender (the others see it where the practitioner's camera was); "Stop sharing", or the
// browser's own stop, puts the camera back. Needs the camera's sender (not in audio only).
const share = $("share");
let sharing = null;
let camera = null;

function renderShare() {
  share.textContent = sharing ? T.share_stop : T.share;
  share.setAttribute("aria-pressed", String(Boolean(sharing)));
}

async function startShare() {
  camera = current("videoinput");
  if (!camera || !navigator.mediaDevices?.getDisplayMedia) return;
  let screen;
  try {
    screen = (await navigator.mediaDevices.getDisplayMedia({ video: true })).getVideoTracks()[0];
  } catch (err) {
    console.warn("screen share", err.name); // the person chose not to share
    return;
  }
  for (const sender of api().senders()) if (sender.track === camera) await sender.replaceTrack(screen);
  sharing = screen;
  screen.addEventListener("ended", stopShare);
  renderShare();
}

async function stopShare() {
  if (!sharing) return;
  for (const sender of api().senders()) if (sender.track === sharing) await sender.replaceTrack(current("videoinput") || camera);
  sharing.stop();
  sharing = null;
  renderShare();
}

if (share) {
  share.hidden = !navigator.mediaDevices?.getDisplayMedia;
  share.addEventListener("click", () => (sharing ? stopShare() : startShare()));
}

window.rapportDevices = { view: () => ({ ...view, video: current("videoinput")?.id || null, audio: current("audioinput")?.id || null }), choose, swap, sharing: () => Boolean(sharing) };
