"""The benchmark's chart (docs/bench/benchmarks.png): storefront reads,
checkout latency, consumer throughput, analytics scaling and memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["IDLE_MB", "draw"]

IDLE_MB = 150  # a service's RSS at rest

from report_pipeline import CONFIRM_P99_MS, DASHBOARD_P99_MS  # noqa: E402  (beside this file)


def draw(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(16, 9))
    (reads, latency, consumers), (scaling, memory, info) = axes
    if "storefront" in r:
        rows = r["storefront"]["rows"]
        routes = list(dict.fromkeys(x["route"] for x in rows))
        for n, concurrency in enumerate((16, 64)):
            values = [
                next(x["rps"] for x in rows if x["route"] == route and x["concurrency"] == c)
                for route in routes
                for c in [concurrency]
            ]
            reads.bar(
                [i + n * 0.4 for i in range(len(routes))], values, 0.4, label=f"c={concurrency}"
            )
        reads.set_xticks([i + 0.2 for i in range(len(routes))], [x.split(" ")[0] for x in routes])
        reads.set_title("1. storefront reads (req/s)")
        reads.legend()
    if "checkout" in r:
        c = r["checkout"]
        labels = ["placed→confirmed", "paid→dashboard"]
        keys = ["placed_to_confirmed_ms", "paid_to_dashboard_ms"]
        for n, q in enumerate(("p50", "p95", "p99")):
            latency.bar(
                [i + n * 0.27 for i in range(2)], [c[k][q] or 0 for k in keys], 0.27, label=q
            )
        latency.axhline(CONFIRM_P99_MS, color="tab:red", ls="--", lw=1, label="targets (p99)")
        latency.axhline(DASHBOARD_P99_MS, color="tab:red", ls="--", lw=1)
        latency.set_xticks([i + 0.27 for i in range(2)], labels)
        latency.set_title(f"2. checkout at {c['offered_per_s']:g}/s offered (ms)")
        latency.legend()
    if "consumers" in r:
        rows = list(r["consumers"]["rows"])
        if "scaling" in r:
            rows.append({"service": "analytics", **r["scaling"]["rows"][0]})
        names = [x["service"] for x in rows]
        consumers.bar(
            list(range(len(rows))),
            [x["consumer"]["per_s"] or 0 for x in rows],
            0.4,
            label="consumer",
        )
        consumers.bar(
            [i + 0.4 for i in range(len(rows))],
            [x["bare_read"]["per_s"] or 0 for x in rows],
            0.4,
            label="bare aiokafka read",
        )
        consumers.set_xticks([i + 0.2 for i in range(len(rows))], names)
        consumers.set_yscale("log")
        consumers.set_title("3. consumer throughput (events/s, log)")
        consumers.legend()
    if "scaling" in r:
        rows = r["scaling"]["rows"]
        scaling.bar(
            [str(x["instances"]) for x in rows], [x["consumer"]["per_s"] or 0 for x in rows]
        )
        scaling.set_xlabel("analytics instances")
        scaling.set_title("4. analytics projector scaling (events/s)")
    if "memory" in r:
        rows = r["memory"]["rows"]
        names = [x["process"] for x in rows]
        memory.bar(list(range(len(rows))), [x["idle_mb"] for x in rows], 0.4, label="idle")
        memory.bar(
            [i + 0.4 for i in range(len(rows))],
            [x["load_mb"] or 0 for x in rows],
            0.4,
            label="under load (peak)",
        )
        memory.axhline(IDLE_MB, color="tab:red", ls="--", lw=1, label=f"{IDLE_MB} MB (services)")
        memory.set_xticks([i + 0.2 for i in range(len(rows))], names, rotation=30)
        memory.set_title("5. RSS (MB)")
        memory.legend()
    m = r["machine"]
    info.axis("off")
    info.text(
        0,
        0.9,
        f"relic-rebirth benchmarks\n{r['started']} UTC\ncommit {m['commit']}"
        f"{' (+changes)' if m['uncommitted_changes'] else ''}\n{m['cores']} cores, "
        f"{m['memory_gb']} GB\n{'QUICK run' if r['quick'] else 'full run'}\n"
        "shared machine: compare with\nthe baseline of the same run",
        va="top",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
