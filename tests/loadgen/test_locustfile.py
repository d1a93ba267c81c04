"""The load generator's locustfile loads in Locust and keeps the storefront
task mix of issue 9 (browse 10, search 5, view 10, add to cart 2, checkout 1,
pay 1, refund occasionally). Locust runs on gevent, which patches the process
it is imported into, so it is inspected in a child process."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support import ROOT

PROBE = """
import collections, json, runpy
module = runpy.run_path("loadgen/locustfile.py")
tasks = collections.Counter(t.__name__ for t in module["Tourist"].tasks)
print(json.dumps(tasks))
"""


def test_the_tourist_task_mix_is_the_issues() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    weights = json.loads(done.stdout.strip().splitlines()[-1])
    refund = weights.pop("refund")
    unit = weights["checkout"]
    assert {name: w / unit for name, w in weights.items()} == {
        "browse": 10,
        "search": 5,
        "view": 10,
        "add_to_cart": 2,
        "checkout": 1,
        "pay": 1,
    }
    assert 0 < refund < unit  # occasionally: rarer than checkout
