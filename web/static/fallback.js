// Automatic audio-only fallback during the call (inclusion, #7). Every two seconds call.js
// hands over one sample per connection (loss, round-trip time, Chromium's estimate of the
// outgoing bitrate); when the line stays weak for a few samples the page switches to audio only
// by itself, says so, and offers to turn video back on. It never switches video back on by
// itself (a line that just recovered often fails again), and after a person turns video back on
// it waits a cool-down before it may fall back again: no flapping. Thresholds are those of the
// pre-call check's "weak" verdict (docs/inclusion.md). This file holds no text a person reads.

export const WINDOW = 3;            // consecutive weak samples (one every 2 s) before falling back
export const COOL_DOWN_MS = 60000;  // after video is turned back on by hand
export const WEAK = { loss: 0.10, rtt: 0.8, kbps: 100 };

// One connection's sample is weak when it loses a tenth of its packets, answers slowly, or the
// browser estimates the outgoing line below what modest video needs. kbps is null when unknown
// (no estimate, or no video being sent: the estimate then says nothing about video).
export function weak(sample) {
  if (!sample) return false;
  return sample.loss >= WEAK.loss || (sample.rtt ?? 0) >= WEAK.rtt
    || (sample.kbps !== null && sample.kbps !== undefined && sample.kbps < WEAK.kbps);
}

// This person's line is weak when every connection they have is weak: in a group call, one
// other person's bad line must not take everyone's video away (theirs falls back instead).
export function lineWeak(samples) {
  const known = samples.filter(Boolean);
  return known.length > 0 && known.every(weak);
}

// The pure decision: given the history of "was the line weak" (newest last), whether audio only
// is on already, and when video was last turned back on by hand, should the page fall back now?
export function decide({ history, audioOnly, restoredAt }, now) {
  if (audioOnly) return false;
  if (restoredAt !== null && now - restoredAt < COOL_DOWN_MS) return false;
  const recent = history.slice(-WINDOW);
  return recent.length === WINDOW && recent.every(Boolean);
}

// The page side: keeps the history, asks decide(), and drives the notice and its button.
export function fallback({ samples, audioOnly, setAudioOnly, text }) {
  const state = { history: [], restoredAt: null, automatic: false, switches: 0 };
  const note = document.getElementById("fallback-text");
  const button = document.getElementById("fallback-video");

  function announce(on) {
    note.textContent = on ? text.fallback_on : "";
    button.hidden = !on;
  }

  function tick() {
    state.history = [...state.history.slice(-(WINDOW - 1)), lineWeak(samples())];
    if (!decide({ ...state, audioOnly: audioOnly() }, Date.now())) return;
    state.automatic = true;
    state.switches += 1;
    state.history = [];
    setAudioOnly(true);
    announce(true);
  }

  // Audio only changed (by the automatic switch, the notice's button or the Audio only button).
  function changed(on) {
    if (on) return;
    if (state.automatic) state.restoredAt = Date.now(); // by hand, after a fallback: cool down
    state.automatic = false;
    state.history = [];
    announce(false);
  }

  button.addEventListener("click", () => {
    setAudioOnly(false);
    document.getElementById("audio-only")?.focus();
  });
  return { tick, changed, view: () => ({ automatic: state.automatic, switches: state.switches,
    history: [...state.history], restoredAt: state.restoredAt }) };
}
