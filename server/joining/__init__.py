"""Joining a call: invitation links, participants, the pre-call check, failure reports,
sending links."""
