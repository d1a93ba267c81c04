"""The ip service's errors. No HTTP codes here: servicekit.problems maps the
bases (NotFound 404, Conflict 409, Invalid 422, Forbidden 403).

    ServiceError
     ├── NotFound
     │    ├── UnknownThing          a holder, asset, license, statement... (or not yours)
     │    └── UnknownCertificate    no certificate has this serial
     ├── Conflict
     │    ├── ExclusiveConflict     an exclusive/sole license overlaps
     │    ├── StateConflict         the action does not fit the current status
     │    ├── ApprovalRequired      a first-grade relic's license lacks its approval reference
     │    └── ReferenceReused       a payout reference was used with other values
     ├── Invalid
     │    ├── BadInput              a business rule broken (shares, terms, periods)
     │    ├── InsufficientBalance   a payout above the holder's balance
     │    └── MalformedCertificateSerial  bad length, alphabet or check character
     └── Unavailable
          └── Contention            a ledger chain stayed contended; retry
"""

from servicekit.errors import Conflict, Invalid, NotFound, Unavailable

__all__ = [
    "ApprovalRequired",
    "BadInput",
    "Contention",
    "ExclusiveConflict",
    "InsufficientBalance",
    "MalformedCertificateSerial",
    "ReferenceReused",
    "StateConflict",
    "UnknownCertificate",
    "UnknownThing",
]


class UnknownThing(NotFound):
    def __init__(self, kind: str, thing_id: str) -> None:
        super().__init__(f"{kind} {thing_id} does not exist", kind=kind, id=thing_id)


class ExclusiveConflict(Conflict):
    title = "Exclusive license conflict"

    def __init__(self, license_ids: list[str]) -> None:
        super().__init__(
            "an exclusive or sole license already covers an overlapping asset, category, "
            "territory and term",
            conflicting_licenses=license_ids,
        )


class StateConflict(Conflict):
    pass


class ApprovalRequired(Conflict):
    title = "State approval required"

    def __init__(self, license_id: str, reason: str) -> None:
        super().__init__(reason, license_id=license_id, reason=reason)


class ReferenceReused(Conflict):
    def __init__(self, reference: str) -> None:
        super().__init__(
            f"payout reference {reference} was already used for another holder or amount",
            reference=reference,
        )


class BadInput(Invalid):
    pass


class InsufficientBalance(Invalid):
    title = "Insufficient balance"

    def __init__(self, holder_id: str, balance_fen: int, amount_fen: int) -> None:
        super().__init__(
            f"payout of {amount_fen} fen exceeds the balance of {balance_fen} fen",
            holder_id=holder_id,
            balance_fen=balance_fen,
            amount_fen=amount_fen,
        )


class Contention(Unavailable):
    pass


class MalformedCertificateSerial(Invalid):
    title = "Malformed serial"

    def __init__(self, serial: str, reason: str) -> None:
        super().__init__(reason, serial=serial[:40], status="malformed")


class UnknownCertificate(NotFound):
    title = "Unknown certificate"

    def __init__(self, serial: str) -> None:
        super().__init__(
            f"no certificate has the serial {serial}: the item is not a licensed unit "
            "known to relic-rebirth",
            serial=serial,
            status="unknown",
        )
