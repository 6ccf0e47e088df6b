"""The recording endpoints of /api/v1: the session's practitioner and their supervisor."""

from __future__ import annotations

from server.endpoints import Endpoint
from server.recordings import playback, views

E = Endpoint
ENDPOINTS: tuple[Endpoint, ...] = (
    E("GET", "/recordings/{id}", views.recording_meta, "api-recording",
      "A recording's details and files (the session's practitioner or their supervisor)",
      response=views.RecordingOut, tags=("recordings",)),
    E("GET", "/recordings/{id}/download", views.recording_download,
      "api-recording-download",
      "Download one file of a recording (?file=NAME from its details), decrypted as sent",
      tags=("recordings",), media_type="video/webm"),
    E("GET", "/recordings/{id}/media", playback.recording_media, "api-recording-media",
      "One file of a recording for a video element (?file=NAME&viewing=ID, as its playback "
      "page gives it): decrypted as sent, HTTP Range requests answered 206 (416 when no byte "
      "of the range exists); the first request of each viewing is audited",
      tags=("recordings",), media_type="video/webm"),
)
