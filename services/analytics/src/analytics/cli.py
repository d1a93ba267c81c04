"""`analytics replay`: rebuild every projection from the beginning of the topics.

    analytics replay            # settings from the environment, like the service

Reads every projected topic from its beginning into a fresh projection
version with a progress bar (events/s, ETA), then swaps it in; running
services move to it within a second.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from analytics.config import Settings
from analytics.replay import ReplayProgress, ReplayResult, replay
from servicekit.mongo import connect

__all__ = ["main"]


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        rate = task.fields.get("rate")
        return Text(f"{rate:,.0f} events/s" if rate else "- events/s", style="cyan")


async def _replay(settings: Settings, console: Console) -> ReplayResult:
    mongo = connect(settings)
    try:
        with Progress(
            TextColumn("[bold]replay v{task.fields[version]}"),
            BarColumn(),
            MofNCompleteColumn(),
            _Rate(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        ) as bar:
            task_id = bar.add_task("replay", total=None, version="?", rate=0.0)

            def show(p: ReplayProgress) -> None:
                bar.update(
                    task_id,
                    total=p.total or None,
                    completed=p.read,
                    version=p.version,
                    rate=p.events_per_second,
                )

            return await replay(
                db=mongo[settings.mongodb_database], settings=settings, on_progress=show
            )
    finally:
        await mongo.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="analytics", description="analytics service tools")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("replay", help="rebuild every projection from the beginning of the topics")
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    if args.command == "replay":
        result = asyncio.run(_replay(Settings(), console))
        state = "activated" if result.activated else "built (a newer version is live)"
        console.print(
            f"projection v{result.version} {state}: {result.events:,} events "
            f"({result.skipped:,} skipped) in {result.seconds:.1f}s, "
            f"{result.events_per_second:,.0f} events/s"
        )
        sys.exit(0)


if __name__ == "__main__":
    main()
