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
TARGET_RATE = 100  # orders/s offered

__all__ = ["machine", "write"]

import report_chart  # noqa: E402  (beside this file, like the other bench modules)
import report_grown  # noqa: E402
import report_pipeline  # noqa: E402
from report_chart import IDLE_MB  # noqa: E402


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
    report_chart.draw(results, chart)
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


if __name__ == "__main__":  # re-render the document and chart from a results file
    import sys

    write(json.loads(Path(sys.argv[1]).read_text()))
