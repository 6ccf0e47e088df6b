"""Prometheus metrics of one process, in a registry of the application's own.

Counters and histograms are updated where things happen (signalling's relays and admissions,
the error middleware); gauges read their value when `/metrics` is scraped, from callbacks
the packages that own the state register (`gauge(name, ...)`). Other work sets the outbox
backlog with `metrics.outbox_backlog.set(n)`. Each process serves its own numbers: Prometheus
scrapes every process and sums.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
# From a LAN round trip to a loaded database: where a signalling step spends its time.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.relay = Histogram("rapport_relay_seconds", "Relaying one offer, answer or "
                               "candidate: from its arrival to its hand-over to the room bus "
                               "(its count is the relays; rate() of it is relays per second)",
                               buckets=BUCKETS, registry=r)
        self.admission = Histogram("rapport_admission_seconds", "Admitting a person: the "
                                   "policy decided, the state written, the room told",
                                   buckets=BUCKETS, registry=r)
        self.errors = Counter("rapport_errors", "Failures: HTTP 5xx answers and signalling "
                              "messages the server could not handle", ["where"], registry=r)
        self.outbox_backlog = Gauge("rapport_outbox_backlog", "Messages waiting to be sent "
                                    "(set by whichever outbox feeds it)", registry=r)

    def gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A gauge whose value is read at each scrape."""
        Gauge(name, documentation, registry=self.registry).set_function(read)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
