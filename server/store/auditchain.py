"""The audit log's hash chain: canonical form, entry hashes and the walk that checks them.

Pure functions, no I/O: `server.audit` feeds them rows, the migration backfills with them,
and `rapport audit verify` reports what `Verifier` finds.

Each entry's hash is SHA-256 over a canonical JSON serialisation of its fields (sequence
number, time, actor, action, target, client, request, address, detail) and the previous
entry's hash, so editing, deleting or reordering any entry breaks the chain from there on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from server.clock import UTC

# The "previous hash" of the very first entry.
GENESIS = "0" * 64
# The action of the entry the retention sweeper leaves when it removes a prefix of the log.
PRUNE_ACTION = "audit.prune"
HASHED_FIELDS = ("seq", "at", "actor_id", "action", "target_type", "target_id", "client_id",
                 "request_id", "address", "detail")


def _at(value: datetime) -> str:
    # Microseconds always written: both databases keep them, so the text is stable.
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(fields: Mapping[str, Any], prev_hash: str) -> bytes:
    """The exact bytes hashed for one entry: sorted keys, no spaces, UTF-8."""
    body = {name: fields[name] for name in HASHED_FIELDS}
    body["at"] = _at(fields["at"])
    body["prev_hash"] = prev_hash
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def entry_hash(fields: Mapping[str, Any], prev_hash: str) -> str:
    """SHA-256 (hex) of an entry's canonical form chained to the previous hash."""
    return hashlib.sha256(canonical(fields, prev_hash)).hexdigest()


@dataclass(frozen=True)
class Break:
    """The first place the chain does not hold: which entry and what is wrong with it."""

    seq: int
    entry_id: int | None
    kind: str  # "edited", "missing", "reordered", "head", "anchor"
    message: str


@dataclass
class Verifier:
    """Walks entries in sequence order and stops at the first break.

    A log whose oldest entries were removed by retention starts after seq 1; it is accepted
    only when a later `audit.prune` checkpoint entry (itself chained) names exactly the
    sequence number and hash the surviving log starts from.
    """

    count: int = 0
    first_seq: int | None = None
    last_seq: int = 0
    last_hash: str = GENESIS
    last_id: int | None = None
    # (upto_seq, upto_hash) the surviving prefix must match, checked when a checkpoint appears.
    pending_start: tuple[int, str] | None = None
    seen_hashes: dict[str, int] = field(default_factory=dict)
    broken: Break | None = None
    # (seq, hash) of a head recorded elsewhere earlier (`rapport audit verify --anchor`): the
    # log must still hold that entry unchanged, or it was cut back and rewritten.
    anchor: tuple[int, str] | None = None

    def feed(self, row: Mapping[str, Any]) -> bool:
        """Check one entry; False (and `broken` set) at the first problem."""
        if self.broken is not None:
            return False
        seq, entry_id = int(row["seq"]), row.get("id")
        if self.first_seq is None:
            self._start(seq, row)
        elif seq != self.last_seq + 1:
            return self._fail(self.last_seq + 1, None, "missing",
                              f"entry seq {self.last_seq + 1} is missing (deleted): "
                              f"seq {self.last_seq} is followed by seq {seq}")
        if self.broken is not None:
            return False
        if entry_hash(row, row["prev_hash"]) != row["hash"]:
            if row["prev_hash"] != self.last_hash:
                return self._fail(seq, entry_id, "reordered",
                                  f"entry seq {seq} (id {entry_id}) does not belong here: "
                                  "its number and its predecessor changed (entries reordered)")
            return self._fail(seq, entry_id, "edited",
                              f"entry seq {seq} (id {entry_id}) was edited: its contents no "
                              "longer match its hash")
        if row["prev_hash"] != self.last_hash:
            reordered = row["prev_hash"] in self.seen_hashes
            kind = "reordered" if reordered else "missing"
            what = ("it names an earlier entry as its predecessor (entries reordered)"
                    if reordered else "its predecessor is not the entry before it "
                    "(an entry was removed or replaced)")
            return self._fail(seq, entry_id, kind, f"entry seq {seq} (id {entry_id}): {what}")
        if entry_id is not None and self.last_id is not None and entry_id < self.last_id:
            return self._fail(seq, entry_id, "reordered",
                              f"entry seq {seq} (id {entry_id}) was stored before seq "
                              f"{self.last_seq} (id {self.last_id}): entries reordered")
        if self.anchor is not None and seq == self.anchor[0] and row["hash"] != self.anchor[1]:
            return self._fail(seq, entry_id, "anchor",
                              f"entry seq {seq} (id {entry_id}) is not the entry recorded "
                              "elsewhere: the log was rewritten from there on")
        self._checkpoint(row)
        self.seen_hashes[row["hash"]] = seq
        self.count, self.last_seq, self.last_hash = self.count + 1, seq, row["hash"]
        self.last_id = entry_id
        return self.broken is None

    def _start(self, seq: int, row: Mapping[str, Any]) -> None:
        self.first_seq = seq
        if seq == 1:
            if row["prev_hash"] != GENESIS:
                self._fail(1, row.get("id"), "edited",
                           "entry seq 1 does not start from the genesis hash")
            return
        # A pruned log: trust its start only once a checkpoint vouches for it.
        self.pending_start = (seq - 1, row["prev_hash"])
        self.last_seq, self.last_hash = seq - 1, row["prev_hash"]

    def _checkpoint(self, row: Mapping[str, Any]) -> None:
        if row["action"] != PRUNE_ACTION or self.pending_start is None:
            return
        detail = row["detail"] or {}
        if (detail.get("upto_seq"), detail.get("upto_hash")) == self.pending_start:
            self.pending_start = None

    def _fail(self, seq: int, entry_id: int | None, kind: str, message: str) -> bool:
        self.broken = Break(seq, entry_id, kind, message)
        return False

    def finish(self, head_seq: int | None, head_hash: str | None) -> Break | None:
        """Final checks: a pruned start vouched for, and the stored head matching the tail."""
        if self.broken is not None:
            return self.broken
        if self.pending_start is not None:
            start = self.pending_start[0]
            return self._break(1, "missing", f"entries seq 1 to {start} are missing and no "
                               "retention checkpoint accounts for them")
        if self.anchor is not None and self.anchor[0] > self.last_seq:
            return self._break(self.last_seq + 1, "anchor",
                               f"the log ends at seq {self.last_seq} but seq {self.anchor[0]} "
                               "was recorded elsewhere: entries were cut off the end")
        if head_seq is None:
            if self.count:
                return self._break(self.last_seq, "head", "the chain head record is missing")
            return None
        if head_seq > self.last_seq:
            return self._break(self.last_seq + 1, "missing",
                               f"entry seq {self.last_seq + 1} is missing (deleted): the log "
                               f"should end at seq {head_seq} but ends at seq {self.last_seq}")
        if head_seq < self.last_seq or head_hash != self.last_hash:
            return self._break(head_seq, "head", "the chain head record does not match the "
                               f"last entry (head seq {head_seq}, last entry seq {self.last_seq})")
        return None

    def _break(self, seq: int, kind: str, message: str) -> Break:
        self.broken = Break(seq, None, kind, message)
        return self.broken
