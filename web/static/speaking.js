// The speaking person highlighted (#14): each tile's audio is measured with a WebAudio
// AnalyserNode (its own microphone for the own tile, the incoming audio for the others); a
// tile louder than a whisper is marked `.speaking` for a moment (call.css draws the outline).
// Muted tracks (enabled = false) carry silence, so a muted person is never highlighted.

const EVERY_MS = 150;
const HOLD_MS = 700;     // keep the highlight through the gaps between words
const THRESHOLD = 0.02;  // RMS of the waveform (−34 dBFS): speech, not room noise

let context = null;
const meters = new Map(); // audio track id -> { source, analyser, data }

function audioContext() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return null;
  context = context || new Context();
  if (context.state === "suspended") context.resume().catch(() => {});
  return context;
}

// Browsers start an AudioContext only after the person has used the page: resume on use.
for (const kind of ["pointerdown", "keydown"]) {
  addEventListener(kind, () => { if (context?.state === "suspended") context.resume().catch(() => {}); }, true);
}

function meter(track) {
  let m = meters.get(track.id);
  if (!m) {
    const ctx = audioContext();
    if (!ctx) return null;
    const source = ctx.createMediaStreamSource(new MediaStream([track]));
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 512;
    source.connect(analyser);
    m = { source, analyser, data: new Float32Array(analyser.fftSize), track };
    meters.set(track.id, m);
  }
  return m;
}

function loudness(m) {
  m.analyser.getFloatTimeDomainData(m.data);
  let sum = 0;
  for (const x of m.data) sum += x * x;
  return Math.sqrt(sum / m.data.length);
}

function tick() {
  const now = Date.now();
  const live = new Set();
  for (const tile of document.querySelectorAll("#tiles .tile")) {
    const stream = tile.querySelector("video")?.srcObject;
    const track = stream?.getAudioTracks().find((t) => t.readyState === "live" && t.enabled);
    let loud = false;
    if (track) {
      live.add(track.id);
      const m = meter(track);
      loud = Boolean(m) && loudness(m) > THRESHOLD;
    }
    if (loud) tile.dataset.spokeAt = String(now);
    const speaking = now - Number(tile.dataset.spokeAt || 0) < HOLD_MS;
    tile.classList.toggle("speaking", speaking);
  }
  for (const [id, m] of meters) {
    if (!live.has(id)) {
      m.source.disconnect();
      meters.delete(id);
    }
  }
}

setInterval(tick, EVERY_MS);
