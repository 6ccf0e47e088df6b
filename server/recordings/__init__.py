"""Recordings after the call: details, playback and download, retention of the files."""
