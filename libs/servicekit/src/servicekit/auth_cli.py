"""`rebirth-token`: mint a bearer token for development and operations."""

import argparse
from datetime import timedelta

from servicekit.auth import Principal, Role, TokenService
from servicekit.settings import ServiceSettings

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="rebirth-token", description=__doc__)
    parser.add_argument("--role", required=True, choices=[r.value for r in Role])
    parser.add_argument("--subject", default=None, help="the sub claim (default: the role)")
    parser.add_argument("--museum-id")
    parser.add_argument("--licensee-id")
    parser.add_argument(
        "--museum-admin",
        action="store_true",
        help="the museum's administrator (manages its staff); with --role museum",
    )
    parser.add_argument("--hours", type=float, default=12.0)
    args = parser.parse_args(argv)

    role = Role(args.role)
    if role is Role.MUSEUM and not args.museum_id:
        parser.error("--museum-id is required for a museum token")
    if role is Role.LICENSEE and not args.licensee_id:
        parser.error("--licensee-id is required for a licensee token")
    if args.museum_admin and role is not Role.MUSEUM:
        parser.error("--museum-admin goes with --role museum")
    principal = Principal(
        subject=args.subject or args.museum_id or args.licensee_id or role.value,
        role=role,
        museum_id=args.museum_id,
        licensee_id=args.licensee_id,
        museum_admin=args.museum_admin,
    )
    print(TokenService(ServiceSettings()).mint(principal, ttl=timedelta(hours=args.hours)))


if __name__ == "__main__":
    main()
