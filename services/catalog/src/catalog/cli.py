"""catalog-import: send a collection CSV to a running catalog service.

    catalog-import FILE --museum-id ID [--url http://127.0.0.1:8001] [--token T]

The token (or $CATALOG_TOKEN) must be the museum's own or an operator's.
Every row is validated by the service; one bad row and nothing is imported,
and every problem is printed with its row number. Exit code 0 on success.
"""

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="catalog-import", description=__doc__.split("\n")[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--museum-id", required=True)
    parser.add_argument("--url", default=os.environ.get("CATALOG_URL", "http://127.0.0.1:8001"))
    parser.add_argument("--token", default=os.environ.get("CATALOG_TOKEN"))
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("a bearer token is needed (--token or CATALOG_TOKEN)")
    query = urllib.parse.urlencode({"museum_id": args.museum_id})
    request = urllib.request.Request(
        f"{args.url.rstrip('/')}/relics:import?{query}",
        data=args.file.read_bytes(),
        method="POST",
        headers={"Content-Type": "text/csv", "Authorization": f"Bearer {args.token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        problem = json.loads(exc.read() or b"{}")
        print(f"import rejected ({exc.code}): {problem.get('detail', exc.reason)}", file=sys.stderr)
        for error in problem.get("errors", []):
            print(f"  row {error.get('row')}: {error.get('field')}: {error.get('message')}")
        return 1
    print(f"imported {body['rows']} relics ({body['created']} new) into {body['museum_id']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
