"""`make bench`: run every benchmark in bench/ and write docs/bench/RESULTS.md.

A benchmark is a module here with a `main() -> list[str]` returning markdown
lines; each measures its subject next to its baseline in the same run.
"""

from __future__ import annotations

import importlib.util
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "docs" / "bench" / "RESULTS.md"
SKIP = {"run.py", "baseline_app.py"}


def main() -> None:
    only = set(sys.argv[1:])
    sections = [
        "# Benchmark results",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({platform.machine()}, Python {platform.python_version()}). "
        "Shared, noisy machines: compare each figure with its baseline from the same run.",
    ]
    for path in sorted(HERE.glob("*.py")):
        if path.name in SKIP or path.name.startswith("_") or (only and path.stem not in only):
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise RuntimeError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        print(f"== {path.stem}", flush=True)
        lines = module.main()
        print("\n".join(lines), flush=True)
        doc = (module.__doc__ or "").strip()
        sections += ["", f"## {path.stem}", "", doc, "", *lines]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(sections) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
