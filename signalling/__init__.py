"""Rooms, participants, the WebSocket protocol and the room bus (in-process | Redis).

Built by the live-calls work; nothing here yet.
"""
