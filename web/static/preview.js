// The practitioner's (and everyone's) own picture plays from the moment the camera is on
// (issue #13). Autoplay alone left it paused while the person was alone: the tile is made
// while the stage is still hidden, and Chromium does not start a muted autoplay element that
// was never visible. So it is muted as an attribute too, and played explicitly, again
// whenever it is found paused.

export function playPreview(video, stream) {
  video.muted = true;
  video.defaultMuted = true;
  video.setAttribute("muted", "");
  if (video.srcObject !== stream) video.srcObject = stream;
  if (video.paused) video.play().catch(() => {});
}
