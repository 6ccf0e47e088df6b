"""Live calls: rooms and their state machine, the `/signal` WebSocket protocol, the room bus
(in-process), the recording desk and call quality. Features see it only as `LiveRooms`."""
