// The playback page: buttons to move 10 seconds back or forward (beside the player's own
// controls) and a polite status line for screen readers (playing, paused at, ended, failed).
// The words come from the page (translated there); the video plays without this script.
const root = document.getElementById("playback");
const video = document.getElementById("player");
const status = document.getElementById("player-status");

function clock(seconds) {
  const whole = Math.max(0, Math.floor(seconds || 0));
  const m = Math.floor(whole / 60);
  const s = String(whole % 60).padStart(2, "0");
  return `${m}:${s}`;
}

function say(text) {
  if (status.textContent !== text) status.textContent = text;
}

function skip(by) {
  const end = Number.isFinite(video.duration) ? video.duration : Infinity;
  video.currentTime = Math.min(Math.max(0, video.currentTime + by), end);
}

for (const button of root.querySelectorAll("[data-skip]")) {
  button.addEventListener("click", () => skip(Number(button.dataset.skip)));
}
video.addEventListener("playing", () => say(root.dataset.playing));
video.addEventListener("pause", () => {
  if (!video.ended) say(root.dataset.paused.replace("{at}", clock(video.currentTime)));
});
video.addEventListener("ended", () => say(root.dataset.ended));
video.addEventListener("error", () => say(root.dataset.failed));
