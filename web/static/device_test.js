// "Test my device": turns the pre-call check's result (precall.js, event "rapport:precall")
// into plain sentences, one per thing tested. Nothing is sent anywhere.
const T = JSON.parse(document.getElementById("device-text").textContent);
const state = { result: null, findings: [] };
window.rapportDeviceTest = state;

window.addEventListener("rapport:precall", (event) => {
  const r = event.detail;
  state.result = r;
  state.findings = [
    r.camera ? T.camera_ok : T.camera_no,
    r.microphone ? T.microphone_ok : T.microphone_no,
    T.sound,
    T[r.verdict] || T.failed,
  ];
  const list = document.getElementById("device-findings");
  list.replaceChildren(...state.findings.map((text) => {
    const li = document.createElement("li");
    li.textContent = text;
    return li;
  }));
  document.getElementById("device-summary").hidden = false;
});
