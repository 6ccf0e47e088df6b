"""Data protection: the access log, subject access exports, retention, the privacy notice."""
