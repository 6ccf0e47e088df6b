// The pre-call check (inclusion, #7): camera preview, microphone level, a test sound made with
// WebAudio, and a connection test against the server's echo peer (POST /precall/echo) that
// measures round-trip time, loss and bitrate. It runs beside the checklist and the waiting
// room, never in their way, and can be skipped. The verdict is kept with the session
// (POST /precall/result) and shown to the practitioner; "weak" makes the call start audio only.
// Every sentence comes from the page's #precall-text block.

const box = document.getElementById("precall");
const T = JSON.parse(document.getElementById("precall-text").textContent);
// The call page, or the public device test (which keeps no result: no result URL).
const root = document.getElementById("call") || document.getElementById("device-test");
const ECHO_URL = root.dataset.echoUrl || "/precall/echo";
const RESULT_URL = root.dataset.resultUrl ?? "/precall/result";
const APPOINTMENT = root.dataset.appointment ? Number(root.dataset.appointment) : null;
const CSRF = root.dataset.csrf;
const MEASURE_MS = 4000;
const CONNECT_MS = 8000;
const GATHER_MS = 3000;
const fill = (text, values) => text.replace(/\{(\w+)\}/g, (m, key) => (key in values ? values[key] : m));
const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const check = { stream: null, audio: null, pc: null, stopped: false, result: null };

// A plain verdict from what was measured (thresholds in docs/inclusion.md).
export function verdictOf(m) {
  if (!m) return "failed";
  // Only loss and delay are evidence enough to start audio only. The browser's bitrate
  // estimate ramps up from a low start over a short test (about 150 kbit/s after 4 s on an
  // idle loopback), so it can only make a verdict "fair", never "weak".
  const slow = (limit) => m.estimated && m.kbps < limit;
  if (m.loss >= 10 || m.rtt >= 800) return "weak";
  if (m.loss >= 3 || m.rtt >= 300 || slow(100)) return "fair";
  return "good";
}

function say(text) {
  $("precall-result").textContent = text;
}

async function openDevices() {
  const small = { width: { ideal: 320 }, height: { ideal: 240 }, frameRate: { ideal: 15 } };
  for (const constraints of [{ audio: true, video: small }, { audio: true }, { video: small }]) {
    try {
      return await navigator.mediaDevices.getUserMedia(constraints);
    } catch (err) {
      console.warn("pre-call getUserMedia", err.name);
    }
  }
  return new MediaStream();
}

function meter(stream) {
  if (!stream.getAudioTracks().length) return;
  check.audio = check.audio || new AudioContext();
  const analyser = check.audio.createAnalyser();
  analyser.fftSize = 256;
  check.audio.createMediaStreamSource(stream).connect(analyser);
  const samples = new Uint8Array(analyser.fftSize);
  const level = $("precall-level");
  const tick = () => {
    if (check.stopped) return;
    analyser.getByteTimeDomainData(samples);
    let peak = 0;
    for (const s of samples) peak = Math.max(peak, Math.abs(s - 128) / 128);
    level.value = peak;
    requestAnimationFrame(tick);
  };
  tick();
}

// A short, soft beep: no audio file to download.
function tone() {
  check.audio = check.audio || new AudioContext();
  const ctx = check.audio;
  const osc = ctx.createOscillator();
  const gain = ctx.createGain();
  osc.frequency.value = 440;
  gain.gain.setValueAtTime(0.2, ctx.currentTime);
  gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + 0.8);
  osc.connect(gain).connect(ctx.destination);
  osc.start();
  osc.stop(ctx.currentTime + 0.8);
}

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": CSRF, Accept: "application/json" },
    body: JSON.stringify(APPOINTMENT ? { ...body, appointment: APPOINTMENT } : body),
  });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

async function gathered(pc) {
  if (pc.iceGatheringState === "complete") return;
  await Promise.race([sleep(GATHER_MS), new Promise((resolve) => {
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") resolve();
    });
  })]);
}

async function connected(pc) {
  const deadline = Date.now() + CONNECT_MS;
  while (Date.now() < deadline && !check.stopped) {
    if (pc.connectionState === "connected") return true;
    if (pc.connectionState === "failed") return false;
    await sleep(100);
  }
  return false;
}

// Totals from one getStats: bytes sent, packets received and lost (the echo coming back),
// and the current round-trip time of the chosen candidate pair.
async function sample(pc) {
  const out = { sent: 0, received: 0, lost: 0, rtt: null, available: null, fraction: 0, at: performance.now() };
  (await pc.getStats()).forEach((s) => {
    if (s.type === "outbound-rtp") out.sent += s.bytesSent || 0;
    if (s.type === "inbound-rtp") {
      out.received += s.packetsReceived || 0;
      out.lost += Math.max(0, s.packetsLost || 0);
    }
    // What the echo peer reports losing of ours (RTCP receiver reports).
    if (s.type === "remote-inbound-rtp") out.fraction = Math.max(out.fraction, s.fractionLost || 0);
    if (s.type === "candidate-pair" && s.nominated) {
      if (s.currentRoundTripTime !== undefined) out.rtt = s.currentRoundTripTime * 1000;
      if (s.availableOutgoingBitrate !== undefined) out.available = s.availableOutgoingBitrate;
    }
  });
  return out;
}

async function measure() {
  const pc = new RTCPeerConnection();
  check.pc = pc;
  for (const t of check.stream.getTracks()) pc.addTrack(t, check.stream);
  if (!check.stream.getTracks().length) pc.addTransceiver("audio");
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const answer = await post(ECHO_URL, { sdp: pc.localDescription.sdp });
  await pc.setRemoteDescription(answer);
  if (!(await connected(pc))) return null;
  const first = await sample(pc);
  await sleep(MEASURE_MS);
  const last = await sample(pc);
  const packets = (last.received - first.received) + (last.lost - first.lost);
  const back = packets > 0 ? (100 * (last.lost - first.lost)) / packets : 100;
  // The available bitrate is the browser's own estimate of what the line carries; what was
  // sent is only what the encoder chose to produce, so it is the fallback.
  const sent = ((last.sent - first.sent) * 8) / (last.at - first.at);
  return {
    rtt: Math.round(last.rtt ?? first.rtt ?? 0),
    loss: Math.round(Math.max(back, 100 * last.fraction)),
    kbps: Math.round(last.available ? last.available / 1000 : sent),
    estimated: Boolean(last.available),
  };
}

function closeTest() {
  if (check.pc) check.pc.close();
  check.pc = null;
}

function stop() {
  check.stopped = true;
  closeTest();
  if (check.stream) for (const t of check.stream.getTracks()) t.stop();
  if (check.audio) check.audio.close().catch(() => {});
  check.audio = null;
  $("precall-video").srcObject = null;
}

async function finish(verdict, measured) {
  const camera = Boolean(check.stream && check.stream.getVideoTracks().length);
  const microphone = Boolean(check.stream && check.stream.getAudioTracks().length);
  check.result = { verdict, camera, microphone, ...(measured || {}) };
  const body = { verdict, camera, microphone };
  if (measured) Object.assign(body, { rtt_ms: measured.rtt, loss_percent: measured.loss, bitrate_kbps: measured.kbps });
  window.dispatchEvent(new CustomEvent("rapport:precall", { detail: check.result }));
  if (!RESULT_URL) return;
  await post(RESULT_URL, body).catch((err) => console.warn("pre-call result", err.message));
}

async function run() {
  box.hidden = false;
  check.stream = await openDevices();
  $("precall-video").srcObject = check.stream;
  meter(check.stream);
  const notes = [];
  if (!check.stream.getVideoTracks().length) notes.push(T.no_camera);
  if (!check.stream.getAudioTracks().length) notes.push(T.no_microphone);
  $("precall-devices").textContent = notes.join(" ");
  say(T.testing);
  let measured = null;
  try {
    measured = await measure();
  } catch (err) {
    console.warn("pre-call connection test", err.message);
  }
  closeTest();
  if (check.stopped) return;
  const verdict = verdictOf(measured);
  // In words only: what it means for the call, never milliseconds and kilobits (#14).
  say(measured ? T[verdict] : T.failed);
  $("precall-done").hidden = false;
  $("precall-skip").hidden = true;  // nothing left to skip: "Continue" (or "Close") moves on
  await finish(verdict, measured);
}

$("precall-tone").addEventListener("click", tone);
$("precall-skip").addEventListener("click", () => {
  const running = !check.result;
  stop();
  box.hidden = true;
  if (running) finish("skipped", null);
});
$("precall-done").addEventListener("click", () => {
  stop();
  box.hidden = true;
});
// Once the person is in the call (or it is over), the check has done its job. The observer
// lets go first: hiding the box is itself a change it would see.
const watcher = new MutationObserver(() => {
  const inCall = !$("stage").hidden && root.dataset.role !== "practitioner";
  if (!inCall && $("finished").hidden) return;
  watcher.disconnect();
  stop();
  box.hidden = true;
});
if (root.id === "call") watcher.observe(root, { subtree: true, attributes: true, attributeFilter: ["hidden"] });

// How the practitioner's waiting list describes a person's check (call.js asks).
function describe(precall) {
  if (!precall) return "";
  const parts = [T[`lobby_${precall.verdict}`] || precall.verdict];
  if (!precall.camera) parts.push(T.lobby_no_camera);
  if (!precall.microphone) parts.push(T.lobby_no_microphone);
  if (precall.rtt_ms !== null && precall.rtt_ms !== undefined) {
    parts.push(fill(T.measured, { rtt: precall.rtt_ms, loss: precall.loss_percent, kbps: precall.bitrate_kbps }));
  }
  return parts.join(" · ");
}

window.rapportPrecall = { result: () => check.result, describe, stop };
// A page reopened in the waiting room (the journey's "wait" step) was checked before.
if (root.dataset.step !== "wait" && navigator.mediaDevices && window.RTCPeerConnection) run();
