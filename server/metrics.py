"""Prometheus metrics of one process, in a registry of the application's own.

Counters and histograms are updated where things happen (signalling's relays and admissions,
the error middleware); gauges read their value when `/metrics` is scraped, from callbacks
the packages that own the state register (`gauge(name, ...)`). Other work sets the outbox
backlog with `metrics.outbox_backlog.set(n)`. Each process serves its own numbers: Prometheus
scrapes every process and sums.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
# From a LAN round trip to a loaded database: where a signalling step spends its time.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.relay = HotHistogram("rapport_relay_seconds", "Relaying one offer, answer or "
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


class HotHistogram:
    """A histogram for a hot path (every relayed message, issue #17): a plain count per
    bucket and a sum, kept by the event loop's thread alone, handed to Prometheus as a
    histogram when `/metrics` is scraped. prometheus-client's own `Histogram` takes a lock
    for each observation and its timer builds an object for each use: together about a
    twentieth of the relay's CPU in the closed-loop profile (docs/performance.md)."""

    def __init__(self, name: str, documentation: str, buckets: Sequence[float],
                 registry: CollectorRegistry) -> None:
        self.name, self.documentation = name, documentation
        self.bounds = list(buckets)
        self.counts = [0] * (len(self.bounds) + 1)  # the last: above every bound
        self.sum = 0.0
        registry.register(self)

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.bounds, seconds)] += 1  # `le` bounds are inclusive
        self.sum += seconds

    def describe(self) -> list[HistogramMetricFamily]:
        return [HistogramMetricFamily(self.name, self.documentation)]

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.documentation)
        running = list(itertools.accumulate(self.counts))
        family.add_metric([], [(repr(float(b)), n) for b, n in zip(
            self.bounds, running, strict=False)] + [("+Inf", running[-1])], self.sum)
        yield family
