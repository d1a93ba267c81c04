"""The API request bodies `make seed` sends for the dataset's relics and licenses."""

from __future__ import annotations

import hashlib
from typing import Any

from deploy.demo.dataset import LicenseSpec, RelicSpec

__all__ = ["license_body", "relic_body"]

# a license's term: fixed, so a second run finds the same application again
TERM_START = "2025-01-01T00:00:00+08:00"
TERM_END = "2030-12-31T23:59:59+08:00"
TERRITORY = "CN"
CHANNELS = ["museum_shop", "online"]


def relic_body(spec: RelicSpec, museum_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "museum_id": museum_id,
        "name_zh": spec.name_zh,
        "name_en": spec.name_en,
        "period": spec.period,
        "category": spec.category,
        "protection_grade": spec.grade,
        "description": f"{spec.name_zh} / {spec.name_en}",
        "images": [{"uri": f"https://images.example.org/relics/{spec.key}.jpg"}],
    }
    if spec.donor:
        donor_id, name = spec.donor
        body["provenance"] = {
            "acquisition": "donation",
            "acquired_year": 1980 + int(spec.key[-3:]) % 40,
            "donor": {"donor_id": donor_id, "name": name},
        }
    if spec.has_twin:
        digest = hashlib.sha256(f"twin:{spec.key}".encode()).hexdigest()
        body["assets"] = [
            {
                "kind": "model_3d",
                "uri": f"https://twins.example.org/{spec.key}.glb",
                "format": "glb",
                "checksum": f"sha256:{digest}",
                "byte_size": 1_000_000 + int(digest[:4], 16) * 100,
                "license": "CC BY-NC 4.0",
            }
        ]
    return body


def license_body(spec: LicenseSpec, asset_ids: list[str]) -> dict[str, Any]:
    return {
        "asset_ids": asset_ids,
        "categories": list(spec.categories),
        "territory": TERRITORY,
        "channels": CHANNELS,
        "exclusivity": spec.exclusivity,
        "starts_at": TERM_START,
        "ends_at": TERM_END,
        "terms": {
            "rate_bps": spec.rate_bps,
            "minimum_per_unit_fen": spec.per_unit_minimum_fen,
            "tier_basis": "units",
            "tiers": [{"threshold": t, "rate_bps": r} for t, r in spec.tiers],
            "advance_fen": spec.advance_fen,
            "minimum_guarantee_fen": spec.minimum_guarantee_fen,
        },
    }
