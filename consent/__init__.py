"""Consent: the append-only ledger's records and the pure "may we record now?" decision.

No I/O here, like `policies/`: the store builds the records, `decide` answers. See
docs/recording.md.
"""

from consent.decide import Decision, Verdict, Why, current_consent, decide
from consent.ledger import RECORDING, ConsentEvent, ConsentKind, RecordingRequest, Wording

__all__ = [
    "RECORDING",
    "ConsentEvent",
    "ConsentKind",
    "Decision",
    "RecordingRequest",
    "Verdict",
    "Why",
    "Wording",
    "current_consent",
    "decide",
]
