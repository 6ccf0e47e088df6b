// The playback page: for each player, buttons to move 10 seconds back or forward (beside the
// player's own controls) and a polite status line for screen readers (playing, paused at,
// ended, failed); with several files side by side, "Play all" and "Pause all". The words
// come from the page (translated there); the videos play without this script.
const words = document.getElementById("playback-words").dataset;
const videos = [...document.querySelectorAll(".playback video")];

function clock(seconds) {
  const whole = Math.max(0, Math.floor(seconds || 0));
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

function wire(section) {
  const video = section.querySelector("video");
  const status = section.querySelector(".playback-status");
  const say = (text) => { if (status.textContent !== text) status.textContent = text; };
  for (const button of section.querySelectorAll("[data-skip]")) {
    button.addEventListener("click", () => {
      const end = Number.isFinite(video.duration) ? video.duration : Infinity;
      video.currentTime = Math.min(Math.max(0, video.currentTime + Number(button.dataset.skip)), end);
    });
  }
  video.addEventListener("playing", () => say(words.playing));
  video.addEventListener("pause", () => {
    if (!video.ended) say(words.paused.replace("{at}", clock(video.currentTime)));
  });
  video.addEventListener("ended", () => say(words.ended));
  video.addEventListener("error", () => say(words.failed));
}

document.querySelectorAll(".playback").forEach(wire);
for (const button of document.querySelectorAll("[data-all]")) {
  button.addEventListener("click", () => {
    for (const video of videos) {
      if (button.dataset.all === "play") video.play().catch(() => {});
      else video.pause();
    }
  });
}
