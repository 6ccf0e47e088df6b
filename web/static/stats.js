// Call quality for the contact record (docs/signalling.md, "stats"): every 10 s while in the
// call, a compact summary per peer connection — round-trip time, packets received and lost,
// and bitrates since the previous report — read through the call page's window.rapportCall
// view and sent over its WebSocket. The server keeps only running totals.

const EVERY_MS = 10000;
// A new peer's first sample (nothing to compare with yet) is taken on the next tick, so its
// first report comes one period after it connected, not two.
const TICK_MS = 2000;
const MAX_PEERS = 8;
const last = new Map(); // peer id -> the previous cumulative sample
let sentAt = performance.now();

// Counters restart when a peer connection is replaced: a fall counts as nothing.
const grew = (now, then) => (now >= then ? now - then : 0);

function summary(s, sample, before) {
  const seconds = Math.max(0.001, (sample.at - before.at) / 1000);
  const kbps = (now, then) => Math.min(100000, Math.round(grew(now, then) * 8 / seconds / 1000));
  return {
    peer: s.id,
    rtt_ms: s.rtt == null ? null : Math.min(60000, Math.round(s.rtt * 1000)),
    packets_received: Math.min(10000000, grew(sample.received, before.received)),
    packets_lost: Math.min(10000000, grew(sample.lost, before.lost)),
    kbps_in: kbps(sample.bytesIn, before.bytesIn),
    kbps_out: kbps(sample.bytesOut, before.bytesOut),
  };
}

async function tick() {
  const view = window.rapportCall;
  if (!view) return;
  const ws = view.socket();
  if (view.state().phase !== "in" || !ws || ws.readyState !== WebSocket.OPEN) return;
  const at = performance.now();
  const due = at - sentAt >= EVERY_MS;
  if (!due && view.peers().every((p) => last.has(p.id))) return;
  const peers = [];
  for (const s of await view.stats()) {
    const sample = { at, bytesIn: s.audioBytes + s.videoBytes, bytesOut: s.bytesSent || 0,
      received: s.packetsReceived, lost: s.packetsLost };
    const before = last.get(s.id);
    if (before && !due) continue;
    last.set(s.id, sample);
    if (before) peers.push(summary(s, sample, before));
  }
  if (due && peers.length) {
    sentAt = at;
    ws.send(JSON.stringify({ type: "stats", peers: peers.slice(0, MAX_PEERS) }));
  }
}

setInterval(() => { tick().catch(() => {}); }, TICK_MS);
