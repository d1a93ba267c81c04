"""The reliability suite reports what it measured at the end of the run."""

from __future__ import annotations

from typing import Any

from tests.reliability.helpers import MEASURED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if MEASURED:
        terminalreporter.section("reliability: measured")
        for line in MEASURED:
            terminalreporter.write_line(line)
