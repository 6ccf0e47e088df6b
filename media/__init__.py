"""Server-side aiortc/PyAV roles: consent-gated recorder, pre-call echo peer, TURN credentials.

`turn.py`: TURN REST credentials (coturn's use-auth-secret) and the RTCIceServer list and
ICE transport policy given to browsers. The recorder and echo peer come with the live-calls,
recording and inclusion work.
"""
