"""Server-side aiortc/PyAV roles: the consent-gated recorder, sealed (encrypted) files, the
pre-call echo peer, TURN credentials. Imports nothing of Rapport's."""
