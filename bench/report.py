"""The results: JSON and a PNG chart in bench/results/ (git-ignored), the
chart copied to docs/bench/benchmarks.png and the figures written into
docs/benchmarks.md between its result markers."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "benchmarks.md"
DOC_CHART = ROOT / "docs" / "bench" / "benchmarks.png"
CAPACITY = ROOT / "docs" / "bench" / "capacity.json"
BEGIN, END = "<!-- bench:results:begin -->", "<!-- bench:results:end -->"

SEARCH_SHARE = 0.5  # of the trivial route's req/s
CONFIRM_P99_MS, DASHBOARD_P99_MS, TARGET_RATE = 150, 500, 100
IDLE_MB = 150

__all__ = ["machine", "write"]

import report_grown  # noqa: E402  (beside this file, like the other bench modules)
import report_pipeline  # noqa: E402


def machine() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    meminfo = Path("/proc/meminfo").read_text().split("\n")[0].split()
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(int(meminfo[1]) / 1024 / 1024, 1),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted_changes": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def write(results: dict[str, Any]) -> tuple[Path, Path]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = results["started"].replace(":", "").replace("-", "").replace(" ", "T")
    data = RESULTS / f"bench-{stamp}.json"
    data.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    chart = RESULTS / f"bench-{stamp}.png"
    _chart(results, chart)
    DOC_CHART.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(chart, DOC_CHART)
    _document(results)
    _capacity(results)
    return data, chart


def _capacity(r: dict[str, Any]) -> None:
    """The checkout rate this machine sustains, for the reliability suite's
    load (tests/reliability: half of it): the highest offered rate at which
    every arrival was confirmed and paid, at 90 % of the offered rate within
    the run (not worked off from a queue afterwards), else the best
    confirmed/s seen."""
    runs = [r[k] for k in ("checkout_below", "checkout_mid", "checkout") if k in r]
    if not runs or r.get("quick"):
        return
    whole = [
        c["offered_per_s"]
        for c in runs
        if c["confirmed"] == c["paid"] == c["arrivals"]
        and c["confirmed_per_s"] >= 0.9 * c["offered_per_s"]
    ]
    rate = max(whole) if whole else max(c["confirmed_per_s"] for c in runs)
    CAPACITY.write_text(
        json.dumps(
            {"confirmed_per_s": rate, "measured": r["started"], "commit": r["machine"]["commit"]},
            indent=2,
        )
        + "\n"
    )


# --- the document ---------------------------------------------------------------


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.1f}{unit}"
    return f"{value:,}{unit}" if isinstance(value, int) else f"{value}{unit}"


def _share(ratio: float | None) -> str:
    """A ratio as a percentage: 0.0012 -> 0.12 %, 0.853 -> 85 %, 1.0 -> 100 %."""
    if ratio is None:
        return "n/a"
    percent = ratio * 100
    return f"{percent:.0f} %" if percent >= 10 else f"{percent:.2g} %"


def _vs_bare(row: dict[str, Any]) -> float | None:
    mine, bare = row["consumer"]["per_s"], row["bare_read"]["per_s"]
    return mine / bare if mine and bare else None


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**not met**")


def _lines(r: dict[str, Any]) -> list[str]:
    m = r["machine"]
    out = [
        f"Run {r['started']} UTC, {'QUICK (reduced sizes)' if r['quick'] else 'full size'}, "
        f"commit `{m['commit']}`{' with uncommitted changes' if m['uncommitted_changes'] else ''}; "
        f"{m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB, load average at start "
        f"{' / '.join(str(x) for x in m['load_average_at_start'])} (a shared machine: "
        "read each figure next to its baseline from the same run). "
        f"Data: {r['data']}.",
        "",
        "![benchmarks](bench/benchmarks.png)",
        "",
    ]
    out += ["### Targets", "", "| target | measured | |", "|---|---|---|"]
    for row in _targets(r) + report_grown.targets(r) + report_pipeline.targets(r):
        out.append(f"| {row[0]} | {row[1]} | {_verdict(row[2])} |")
    if "store_bulk" in r:
        b = r["store_bulk"]
        out += [
            "",
            "### 0b. The store's bulk-write ceiling (issue 23's baseline, on the grown stores)",
            "",
            f"{b['writers']} concurrent writers, `insert_many` of {b['batch']} event-sized "
            f"documents back to back into a collection of 100,000: **{_fmt(b['per_s'])} "
            "documents/s**.",
        ]
    if "store" in r:
        st = r["store"]
        out += [
            "",
            f"### 0. The store's own round trips ({st['documents']:,} documents, one at a time)",
            "",
            "| operation | ms |",
            "|---|---:|",
            *(f"| {op} | {_fmt(ms)} |" for op, ms in st["ms"].items()),
        ]
    if "storefront" in r:
        s = r["storefront"]
        out += [
            "",
            f"### 1. Storefront reads ({s['seconds_per_route']:g} s per route, closed loop)",
            "",
            "| route | concurrency | req/s | p50 ms | p99 ms | errors | vs trivial route |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for row in s["rows"]:
            out.append(
                f"| {row['route']} | {row['concurrency']} | {_fmt(row['rps'])} | "
                f"{_fmt(row['p50'])} | {_fmt(row['p99'])} | {row['errors']} | "
                f"{_share(row['vs_baseline'])} |"
            )
    if "checkout_below" in r:
        out += _checkout_section(r["checkout_below"], "a tenth of the target")
    if "checkout_mid" in r:
        out += _checkout_section(r["checkout_mid"], "half the target")
    if "checkout" in r:
        at_target = r["checkout"]["offered_per_s"] >= TARGET_RATE
        out += _checkout_section(r["checkout"], "the target rate" if at_target else "quick run")
    if "consumers" in r:
        c = r["consumers"]
        out += [
            "",
            f"### 3. Consumer throughput (backlog of {c['orders']} orders)",
            "",
            "| consumer | topics | events | consumer events/s | bare read events/s | ratio |",
            "|---|---|---:|---:|---:|---:|",
        ]
        rows = list(c["rows"])
        if "scaling" in r:
            one = r["scaling"]["rows"][0]
            rows.append({"service": "analytics (projector, fresh)", "topics": ["all projected"]})
            rows[-1] |= {k: one[k] for k in ("consumer", "bare_read", "vs_bare", "store")}
        for row in rows:
            out.append(
                f"| {row['service']} | {', '.join(row['topics'])} | "
                f"{row['consumer']['events']} | {_fmt(row['consumer']['per_s'])} | "
                f"{_fmt(row['bare_read']['per_s'])} | {_share(_vs_bare(row))} |"
            )
        out += _store_profile(rows)
    if "scaling" in r:
        s = r["scaling"]
        out += [
            "",
            "### 4. Scaling: the analytics consumer on 6 partitions",
            "",
            "| instances | events | seconds | events/s | bare read events/s |",
            "|---:|---:|---:|---:|---:|",
        ]
        for row in s["rows"]:
            out.append(
                f"| {row['instances']} | {row['consumer']['events']} | "
                f"{row['consumer']['seconds']} | {_fmt(row['consumer']['per_s'])} | "
                f"{_fmt(row['bare_read']['per_s'])} |"
            )
        out += ["", f"2 instances / 1 instance: {_fmt(s['speedup_2_over_1'])}x."]
    if "memory" in r:
        mem = r["memory"]
        out += [
            "",
            "### 5. Memory (RSS)",
            "",
            "| process | idle MB | under load, peak MB |",
            "|---|---:|---:|",
        ]
        for row in mem["rows"]:
            out.append(f"| {row['process']} | {_fmt(row['idle_mb'])} | {_fmt(row['load_mb'])} |")
        out.append(
            f"| **whole stack** (4 services, Kafka, FerretDB) | **{_fmt(mem['stack_idle_mb'])}** "
            f"| **{_fmt(mem['stack_load_peak_mb'])}** |"
        )
    return out + report_grown.lines(r)


def _checkout_section(c: dict[str, Any], what: str) -> list[str]:
    out: list[str] = []
    base = c["baseline_healthz_from_schedule_ms"]
    out += [
        "",
        f"### 2. Checkout at {c['offered_per_s']:g} orders/s, {what} ({c['seconds']:g} s, "
        "open loop)",
        "",
        f"{c['arrivals']} arrivals: {c['placed']} placed, {c['confirmed']} confirmed, "
        f"{c['rejected']} rejected, {c['paid']} paid; errors {c['errors'] or 'none'}. "
        f"Sustained: placed {_fmt(c['placed_per_s'])}/s, confirmed "
        f"{_fmt(c['confirmed_per_s'])}/s, paid {_fmt(c['paid_per_s'])}/s.",
        "",
        "| latency (ms) | n | p50 | p95 | p99 | max |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, key in [
        ("baseline: trivial route, from schedule", "baseline_healthz_from_schedule_ms"),
        ("`POST /orders` answered, from schedule", "post_orders_from_schedule_ms"),
        ("placed → confirmed (`placed_at` → `confirmed_at`)", "placed_to_confirmed_ms"),
        ("scheduled → `order.confirmed` seen on Kafka", "scheduled_to_confirmed_seen_ms"),
        ("paid → royalty on the dashboard (probes)", "paid_to_dashboard_ms"),
    ]:
        p = c[key]
        out.append(
            f"| {label} | {p['n']} | {_fmt(p['p50'])} | {_fmt(p['p95'])} | "
            f"{_fmt(p['p99'])} | {_fmt(p['max'])} |"
        )
    probes = c["probes"]
    out += [
        "",
        f"Baseline achieved {base['achieved_per_s']}/s with {base['errors']} errors. "
        f"Probes: {probes['paid']} paid, {probes['seen_on_dashboard']} seen on the "
        f"dashboard; one dashboard poll took p50 {_fmt(probes['dashboard_poll_ms']['p50'])} "
        f"ms, p99 {_fmt(probes['dashboard_poll_ms']['p99'])} ms (the resolution of the "
        "paid → dashboard figure).",
    ]
    if cpu := c.get("cpu_s"):
        placed = max(c["placed"], 1)
        out += [
            "",
            "CPU per placed order while the run lasted (ms; each process, the load "
            "generator as `bench`): "
            + ", ".join(f"{k} {v * 1000 / placed:,.1f}" for k, v in sorted(cpu.items()))
            + f"; all {sum(cpu.values()) * 1000 / placed:,.1f} ms.",
        ]
    return out


def _store_profile(rows: list[dict[str, Any]]) -> list[str]:
    """Where each consumer's time went: store round trips per event."""
    out = [
        "",
        "Where the time goes: store round trips per handled event, from each service's "
        "`store_command_duration_seconds` over the drain (start-up and the relay's sweeps "
        "included, so an upper bound). Mean ms includes waiting for the store's write lock.",
        "",
        "| consumer | round trips / event | store ms / event | busiest: per event × mean ms |",
        "|---|---:|---:|---|",
    ]
    for row in rows:
        store = row.get("store")
        if not store:
            continue
        busiest = ", ".join(
            f"{b['command']} {b['collection'] or '-'} {_fmt(b['per_event'])} × {_fmt(b['mean_ms'])}"
            for b in store["busiest"][:4]
        )
        out.append(
            f"| {row['service']} | {_fmt(store['round_trips_per_event'])} | "
            f"{_fmt(store['store_ms_per_event'])} | {busiest} |"
        )
    return out


def _targets(r: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    rows: list[tuple[str, str, bool | None]] = []
    if "storefront" in r:
        for concurrency in (16, 64):
            got = [x for x in r["storefront"]["rows"] if x["concurrency"] == concurrency]
            search = next(x for x in got if x["route"].startswith("search"))
            share = search["vs_baseline"]
            rows.append(
                (
                    f"search ≥ {SEARCH_SHARE:.0%} of the trivial route's req/s (c={concurrency})",
                    _share(share),
                    None if share is None else share >= SEARCH_SHARE,
                )
            )
    if "memory" in r:
        for row in r["memory"]["rows"]:
            if row["process"] in ("catalog", "orders", "ip", "analytics"):
                rows.append(
                    (
                        f"{row['process']} idle < {IDLE_MB} MB",
                        f"{_fmt(row['idle_mb'])} MB",
                        row["idle_mb"] < IDLE_MB,
                    )
                )
    return rows


def _document(r: dict[str, Any]) -> None:
    text = DOC.read_text() if DOC.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    DOC.write_text(head + BEGIN + "\n" + "\n".join(_lines(r)) + "\n" + END + tail)


# --- the chart --------------------------------------------------------------------


def _chart(r: dict[str, Any], path: Path) -> None:
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


if __name__ == "__main__":  # re-render the document and chart from a results file
    import sys

    write(json.loads(Path(sys.argv[1]).read_text()))
