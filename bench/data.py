"""The benchmark's data, loaded through the public APIs with `make seed`'s
loader (deploy/demo/seed.py): a slice of the demo dataset, plus products for
checkout on one museum's flat-rate license: "hot" ones with ample stock, and
"probe" ones each bought exactly once, so the museum's dashboard shows when
each probe order's royalty arrived (see checkout.py)."""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy" / "demo"))

from dataset import LicenseSpec, ProductSpec, build  # noqa: E402
from seed import SeedResult, Tokens, Urls, seed  # noqa: E402

__all__ = ["BenchData", "load"]


@dataclass
class BenchData:
    urls: Urls
    tokens: Tokens
    result: SeedResult
    museum_id: str  # the probes' museum
    hot_ids: list[str]
    probe_ids: list[str]
    history_ids: list[str]  # ample stock, for the past orders of bench/history.py

    @property
    def product_ids(self) -> list[str]:
        return list(self.result.product_ids.values())


def _license(licenses: list[LicenseSpec]) -> LicenseSpec:
    """A license whose royalty is a plain rate: the simplest posting per line."""
    for spec in licenses:
        if not (spec.tiers or spec.per_unit_minimum_fen or spec.minimum_guarantee_fen):
            if spec.exclusivity == "non_exclusive" and not spec.advance_fen:
                return spec
    return licenses[0]


async def load(
    urls: Urls, *, relics: int, products: int, hot: int, probes: int, history: int = 0
) -> BenchData:
    data = build(relic_count=relics, product_count=products)
    spec = _license(data.licenses)
    template = next(p for p in data.products if p.license == spec.key)

    def product(sku: str, n: int, stock: int) -> ProductSpec:
        return replace(
            template,
            sku=sku,
            relic=spec.relics[n % len(spec.relics)],
            title_zh=f"{template.title_zh} {sku}",
            title_en=f"{template.title_en} {sku}",
            stock=stock,
        )

    hot_skus = [f"BENCH-HOT-{n:03d}" for n in range(hot)]
    probe_skus = [f"BENCH-PROBE-{n:04d}" for n in range(probes)]
    history_skus = [f"BENCH-HIST-{n:03d}" for n in range(history)]
    data.products += [product(sku, n, 5_000_000) for n, sku in enumerate(hot_skus)]
    data.products += [product(sku, n, 5_000_000) for n, sku in enumerate(history_skus)]
    data.products += [product(sku, n, 10) for n, sku in enumerate(probe_skus)]
    tokens = Tokens()
    console = Console(file=sys.stderr) if sys.stderr.isatty() else Console(file=io.StringIO())
    result = await seed(urls, data, tokens=tokens, console=console)
    missing = [s for s in hot_skus + probe_skus + history_skus if s not in result.product_ids]
    if missing:
        raise RuntimeError(f"seed did not make {len(missing)} bench products: {missing[:3]}")
    return BenchData(
        urls=urls,
        tokens=tokens,
        result=result,
        museum_id=result.museum_ids[spec.museum],
        hot_ids=[result.product_ids[s] for s in hot_skus],
        probe_ids=[result.product_ids[s] for s in probe_skus],
        history_ids=[result.product_ids[s] for s in history_skus],
    )
