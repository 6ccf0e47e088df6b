// The playback page: for each player, buttons to move 10 seconds back or forward (beside the
// player's own controls) and a polite status line for screen readers (playing, paused at,
// ended, failed); with several files side by side, "Play all" and "Pause all". Where each
// file says when it began in the session (data-start, seconds), "Play all" keeps them in
// step: every player is put at the same moment of the session, the one the person last
// moved (or the start), and a file that began later waits its turn; until "Pause all",
// moving any one player moves the others with it. The words come from the page
// (translated there); the videos play without this script.
const words = document.getElementById("playback-words").dataset;
const videos = [...document.querySelectorAll(".playback video")];
const inStep = videos.length > 1 && videos.every((v) => v.dataset.start !== undefined);
const ours = new WeakSet(); // players being moved by "Play all", not by the person
const waits = new Map(); // player → its timer, while it waits for its turn
let lead = null; // the player the person moved last
let together = false; // from "Play all" in step until "Pause all"

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
  video.addEventListener("seeking", () => { if (!ours.has(video)) lead = video; });
  video.addEventListener("seeked", () => {
    if (ours.delete(video)) return; // moved by "Play all"
    if (together) playInStep(); // the person moved this one: the others follow
  });
  video.addEventListener("playing", () => say(words.playing));
  video.addEventListener("pause", () => {
    if (!video.ended) say(words.paused.replace("{at}", clock(video.currentTime)));
  });
  video.addEventListener("ended", () => say(words.ended));
  video.addEventListener("error", () => say(words.failed));
}

function begins(video) {
  return Number(video.dataset.start);
}

// The moment of the session to play from: where the person last put a player, else where
// the first one stands (the session's earliest file start when nothing has played yet).
function moment() {
  if (lead) return begins(lead) + lead.currentTime;
  if (videos.every((v) => v.currentTime === 0)) return Math.min(...videos.map(begins));
  return begins(videos[0]) + videos[0].currentTime;
}

function stopWaiting() {
  for (const timer of waits.values()) clearTimeout(timer);
  waits.clear();
}

function playInStep() {
  stopWaiting();
  const at = moment();
  lead = null;
  for (const video of videos) {
    const into = at - begins(video);
    const end = Number.isFinite(video.duration) ? video.duration : Infinity;
    ours.add(video);
    video.currentTime = Math.min(Math.max(into, 0), end);
    if (into >= 0) {
      video.play().catch(() => {});
    } else {
      video.pause();
      waits.set(video, setTimeout(() => {
        waits.delete(video);
        video.play().catch(() => {});
      }, -into * 1000));
    }
  }
}

document.querySelectorAll(".playback").forEach(wire);
for (const button of document.querySelectorAll("[data-all]")) {
  button.addEventListener("click", () => {
    if (button.dataset.all === "play" && inStep) {
      together = true;
      playInStep();
      return;
    }
    together = false;
    stopWaiting();
    for (const video of videos) {
      if (button.dataset.all === "play") video.play().catch(() => {});
      else video.pause();
    }
  });
}
