"""Contact records: built from the session's events, edited, exported; the supervisor dashboard."""
