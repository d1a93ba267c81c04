"""Prometheus metrics shared by every service (one process = one service)."""

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "CONSUMER_LAG",
    "EVENTS_CONSUMED",
    "EVENTS_FAILED",
    "EVENTS_PUBLISHED",
    "HTTP_LATENCY",
    "STORE_COMMANDS",
    "STORE_SCANS",
]

HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route", "status"],
)
EVENTS_PUBLISHED = Counter("events_published_total", "Events published to Kafka", ["topic"])
EVENTS_CONSUMED = Counter("events_consumed_total", "Events handled", ["topic", "type"])
EVENTS_FAILED = Counter(
    "events_failed_total", "Event handling failures", ["topic", "outcome"]
)  # outcome: retried | dead_lettered
CONSUMER_LAG = Gauge(
    "consumer_lag", "Messages behind the partition's end", ["group", "topic", "partition"]
)
STORE_COMMANDS = Histogram(
    "store_command_duration_seconds",
    "MongoDB/FerretDB command latency",
    ["command", "collection"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
STORE_SCANS = Counter(
    "store_scans",
    "Store commands whose filter is not served by _id (a full scan on the local store)",
    ["command", "collection"],
)
