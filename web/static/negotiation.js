// One transceiver layout per pair, decided once (issue #13). The offering (impolite) side
// creates exactly one audio and one video transceiver, in that order, whatever it has to
// send; the answering (polite) side never adds any: it attaches its own tracks to the
// transceivers of the offer (replaceTrack, setStreams, direction). So no later offer from
// either side can add or reorder m-lines: audio only, camera off and reconnecting change only
// directions and tracks, and the recorder has a peer connection of its own (recording.js).

const KINDS = ["audio", "video"];

function mine(stream, kind) {
  return stream.getTracks().find((t) => t.kind === kind) || null;
}

// What this side wants of a kind: audio only sends and receives no video at all.
export function directionFor(kind, track, audioOnly) {
  if (kind === "video" && audioOnly) return "inactive";
  return track ? "sendrecv" : "recvonly";
}

// The offerer's layout: called once, on a fresh peer connection.
export function createLayout(pc, stream, audioOnly) {
  for (const kind of KINDS) {
    const track = mine(stream, kind);
    const sending = kind === "video" && audioOnly ? null : track;
    pc.addTransceiver(sending || kind, { direction: directionFor(kind, track, audioOnly), streams: [stream] });
  }
}

// The transceiver of a kind in the pair's layout (the first of that kind in m-line order).
export function transceiverOf(pc, kind) {
  return pc.getTransceivers().find((t) => !t.stopped && t.receiver.track.kind === kind) || null;
}

// The answerer, after each remote offer: its tracks on the offer's transceivers. Idempotent.
export async function attachTracks(pc, stream, audioOnly) {
  for (const kind of KINDS) {
    const t = transceiverOf(pc, kind);
    if (!t) continue;
    const track = mine(stream, kind);
    const sending = kind === "video" && audioOnly ? null : track;
    if (t.sender.track !== sending) await t.sender.replaceTrack(sending).catch(() => {});
    if (t.sender.setStreams) t.sender.setStreams(stream);
    const wanted = directionFor(kind, track, audioOnly);
    if (t.direction !== wanted) t.direction = wanted;
  }
}

// Each RTCPeerConnection has a certificate of its own: a new fingerprint in an offer means the
// other side started a fresh peer connection, which an old one cannot take.
export function fingerprint(sdp) {
  const found = /a=fingerprint:(\S+ \S+)/.exec(sdp || "");
  return found ? found[1] : null;
}

export function isFresh(pc, sdp) {
  const current = pc.remoteDescription;
  return Boolean(current) && fingerprint(current.sdp) !== fingerprint(sdp);
}
