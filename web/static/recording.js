// Consent-gated recording on the call page (docs/recording.md). The server decides; this file
// shows the state to everyone, asks the consent question in the server's own words (whose
// hash is sent back with the answer), offers "Ask to record" (practitioner) and "Stop
// recording" (everyone), and, only while the server says "recording", opens a separate
// RTCPeerConnection to the server's recorder and sends this browser's own tracks to it.
// Every sentence comes from the page's #recording-text block.

const GATHER_MS = 5000;

export function recording({ send, stream, welcome, audioOnly, practitioner }) {
  const $ = (id) => document.getElementById(id);
  const T = JSON.parse($("recording-text").textContent);
  const state = { request: null, state: "off", waitingFor: [], prompt: null, answered: new Set(),
    pc: null, offered: null, announcements: 0 };

  function announce(text, recordingNow) {
    const banner = $("recording-state");
    banner.textContent = text;
    banner.classList.toggle("recording-on", recordingNow);
    state.announcements += 1;
  }

  // Someone still waiting is told the room's recording state (so that nothing surprises them
  // when they are let in), but nobody records them: no red banner, no recorder (#14).
  const admitted = () => practitioner || window.rapportCall?.state().me?.state === "admitted";

  function render() {
    const active = ["asking", "recording", "paused"].includes(state.state);
    const ask = $("record-ask");
    if (ask) ask.hidden = active;
    $("record-stop").hidden = !active || !admitted();
    const texts = { asking: T.asking, recording: T.recording, paused: T.paused, failed: T.failed };
    let text = texts[state.state] || T.not_recorded;
    if (state.state === "stopped") text = T[`stopped_${state.reason}`] || T.stopped;
    if (!admitted()) text = active ? T.waiting_room : T.not_recorded;
    announce(text, state.state === "recording" && admitted());
  }

  function showPrompt(m) {
    if (state.answered.has(m.request)) return;
    state.prompt = m;
    const w = m.wording;
    $("consent-title").textContent = w.title;
    $("consent-paragraphs").replaceChildren(...w.paragraphs.map((p) => {
      const el = document.createElement("p");
      el.textContent = p;
      return el;
    }));
    $("consent-question").textContent = w.question;
    // The paragraphs may scroll (recording.css): reachable by keyboard, read out as one.
    const words = $("consent-paragraphs");
    words.tabIndex = 0;
    words.setAttribute("role", "region");
    words.setAttribute("aria-labelledby", "consent-title");
    const dialog = $("consent-dialog");
    if (!dialog.open) dialog.showModal();
    // Start at the title, not on "Yes": people read before they choose.
    $("consent-title").focus();
  }

  function answer(yes) {
    const m = state.prompt;
    if (!m) return;
    state.answered.add(m.request);
    send({ type: "consent", request: m.request, answer: yes ? "yes" : "no", wording: m.wording.sha256 });
    state.prompt = null;
    $("consent-dialog").close();
  }

  async function openRecorder() {
    if (state.pc || state.request === null) return;
    const request = state.request;
    const pc = new RTCPeerConnection({ iceServers: welcome()?.ice_servers || [],
      iceTransportPolicy: welcome()?.ice_transport_policy || "all" });
    state.pc = pc;
    const local = stream();
    for (const t of local.getTracks()) {
      if (t.kind === "video" && audioOnly()) continue;
      // The recorder keeps a modest copy: half size, 15 frames a second, 400 kbit/s.
      const sendEncodings = t.kind === "video"
        ? [{ scaleResolutionDownBy: 2, maxFramerate: 15, maxBitrate: 400000 }] : undefined;
      pc.addTransceiver(t, { direction: "sendonly", streams: [local], sendEncodings });
    }
    if (pc.getTransceivers().length === 0) pc.addTransceiver("audio", { direction: "sendonly" });
    await pc.setLocalDescription();
    // The recorder (aiortc) takes no trickled candidates: send the offer once gathered.
    await new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      const timer = setTimeout(resolve, GATHER_MS);
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") { clearTimeout(timer); resolve(); }
      });
    });
    if (state.pc !== pc) return;
    state.offered = request;
    send({ type: "recorder-offer", request, sdp: pc.localDescription.sdp });
  }

  function closeRecorder() {
    if (state.pc) state.pc.close();
    state.pc = null;
    state.offered = null;
  }

  async function handle(m) {
    if (m.type === "consent-prompt") return showPrompt(m);
    if (m.type === "recorder-answer") {
      if (state.pc && m.request === state.offered) await state.pc.setRemoteDescription({ type: "answer", sdp: m.sdp });
      return;
    }
    if (m.type !== "recording") return;
    state.request = m.request;
    state.state = m.state;
    state.reason = m.reason;
    state.waitingFor = m.waiting_for || [];
    if (m.state === "recording" && admitted()) openRecorder().catch((err) => console.warn("recorder", err));
    else closeRecorder();
    if (!["asking", "paused"].includes(m.state) && $("consent-dialog").open) $("consent-dialog").close();
    render();
  }

  // Recording errors that concern this feature; true when handled.
  function failed(m) {
    const codes = ["recording_not_allowed", "recording_unavailable", "recording_active",
      "unknown_request", "wording_mismatch", "consent_repeated", "recorder_refused"];
    if (!codes.includes(m.code)) return false;
    if (m.code === "recorder_refused") closeRecorder();
    $("recording-error").textContent = m.message;
    $("recording-error").hidden = false;
    return true;
  }

  $("record-ask")?.addEventListener("click", () => {
    $("recording-error").hidden = true;
    send({ type: "record" });
  });
  $("record-stop").addEventListener("click", () => {
    if (state.request !== null) send({ type: "withdraw", request: state.request });
  });
  $("consent-yes").addEventListener("click", () => answer(true));
  $("consent-no").addEventListener("click", () => answer(false));
  $("consent-dialog").addEventListener("cancel", (event) => event.preventDefault());
  // Let in (or back to waiting): the banner and the recorder follow.
  new MutationObserver(() => {
    render();
    if (state.state === "recording" && admitted()) openRecorder().catch((err) => console.warn("recorder", err));
  }).observe($("stage"), { attributes: true, attributeFilter: ["hidden"] });
  render();

  return {
    handle,
    failed,
    close: closeRecorder,
    senders: () => (state.pc ? state.pc.getSenders() : []), // a device switch (devices.js)
    view: () => ({ request: state.request, state: state.state, reason: state.reason || null,
      waitingFor: [...state.waitingFor], prompt: state.prompt ? state.prompt.request : null,
      recorder: state.pc ? state.pc.connectionState : null, banner: $("recording-state").textContent,
      practitioner }),
  };
}
