"""Server-side aiortc/PyAV roles: consent-gated recorder, pre-call echo peer, TURN credentials.

Built by the live-calls, recording and inclusion work; nothing here yet.
"""
