"""Every filter shape ip's hot paths send, built by the functions the store
uses (so this list cannot drift from the code), with sample values.

Hot paths: the order consumer (order.paid accruals, order.refunded
reversals), the catalog consumer (museums, relics), the HTTP requests of
museums, licensees and operators (ledger pages, balances, payables,
statements, licenses, payouts), the public ones (verification, the verify
page, counterfeit reports) and the scheduler (expiry, advances).
tests/integration/test_hot_queries.py has the store explain each one.

Not listed, because they are not hot: the operator's month close
(`Store.postings`, `balances`, `guaranteed_licenses`), admin lists of the
catalog-sized collections (holders, assets, licenses, registrations,
unmatched lines), the trial balance (one document per account), the history
loader, startup backfills, and the recovery reads of a chain head or payout
count stuck behind a crash (ip.ledger).
"""

from datetime import UTC, datetime

from ip.book_docs import (
    BALANCES,
    BUCKETS,
    MONTHS,
    BookLine,
    ChunkState,
    Plan,
    by_id,
    by_ids,
    chunk_id,
    fill_update,
    month_id,
    month_snapshot,
    plan_appends,
    snapshot_update,
)
from ip.cert_store import CERTS, ORDERS, SERIALS, new_revocations, revoke_update
from ip.certificates import Revocation, cert_id
from ip.counterfeit import checks_id
from ip.counterfeit import chunk_id as report_chunk_id
from ip.postings import accrual_id, holder_account, licensee_account, reversal_id
from ip.schedule import ADVANCES, LIVE, SCHEDULE
from ip.store import CLOSE, at_version, close_at, owned_locks, stale_lock
from ip.watch_store import CHECKS, REPORTS
from servicekit.mongo import advance_guard
from servicekit.queries import HotQuery

__all__ = ["HOT_QUERIES"]

_NOW = datetime(2026, 3, 1, tzinfo=UTC)
_ACCRUAL = accrual_id("ord-1", "line-1")
_REVERSAL = reversal_id("rfd-1", "line-1")
_HOLDER = holder_account("three-gorges")
_LICENSEE = licensee_account("lic-acme")
_AT = "2026-03-01T02:00:00.000+00:00"
_LINE = BookLine(_ACCRUAL, _AT, "2026-03", "accrual", -700, "lic-1a2b3c")
_CHUNK = ChunkState(_HOLDER, "2026-03-01", "2026-03", 0, 3, -2100, 0, _AT, _AT)
_CHUNK_NEXT = ChunkState(_HOLDER, "2026-03-01", "2026-03", 1, 1, -700, 0, _AT, _AT)
_REVOKED = Revocation("ord-1", "rfd-1", "line-1", (3,), _NOW)
_NEW_DAY = Plan()
plan_appends((_HOLDER, "2026-03-02", "2026-03"), [], [_LINE], _NEW_DAY)

HOT_QUERIES: tuple[HotQuery, ...] = (
    # order.paid / order.refunded consumer
    HotQuery("posting by id (dedupe)", "journal", by_id(_ACCRUAL)),
    HotQuery("postings by ids (reversals, pages)", "journal", by_ids([_ACCRUAL, _REVERSAL])),
    HotQuery("license of a line", "licenses", by_id("lic-1a2b3c")),
    HotQuery("licenses of a batch", "licenses", by_ids(["lic-1a2b3c", "lic-4d5e6f"])),
    HotQuery("assets of a license", "assets", by_ids(["relic-r1", "relic-r2"])),
    HotQuery("license chain head", "license_heads", by_id("lic-1a2b3c")),
    HotQuery("license chain heads of a batch", "license_heads", by_ids(["lic-1a2b3c"])),
    HotQuery("license chain head moved", "license_heads", advance_guard("lic-1a2b3c", 7)),
    HotQuery("close watermark", "periods", by_id(CLOSE)),
    HotQuery("close watermark moved", "periods", close_at("2026-02")),
    HotQuery("reversals of an accrual", "accrual_reversals", by_id(_ACCRUAL)),
    HotQuery("reversals of a batch's accruals", "accrual_reversals", by_ids([_ACCRUAL])),
    HotQuery("unmatched line", "unmatched", by_id(_REVERSAL)),
    HotQuery("order index noted / read", "order_postings", by_id("ord-1")),
    HotQuery(
        "chunks of a batch's days read",
        BUCKETS,
        by_ids([chunk_id(_HOLDER, "2026-03-01", "2026-03", k) for k in range(3)]),
    ),
    HotQuery("chunk filled (exact count)", BUCKETS, fill_update(_CHUNK, [_LINE])[0]),
    HotQuery("chunk created", BUCKETS, _NEW_DAY.first[0]._filter),
    HotQuery("month index created / read", MONTHS, by_id(month_id(_HOLDER, "2026-03-01"))),
    HotQuery(
        "month indexes of a page",
        MONTHS,
        by_ids([month_id(_HOLDER, "2026-02-01"), month_id(_HOLDER, "2026-03-01")]),
    ),
    HotQuery("month index moved", MONTHS, snapshot_update([_CHUNK, _CHUNK_NEXT])[0]),
    HotQuery("balance created / read", BALANCES, by_id(_LICENSEE)),
    HotQuery(
        "balance moved",
        BALANCES,
        month_snapshot(_HOLDER, "2026-03", {"n": 3, "sum_fen": -2100, "payouts": 0})[0],
    ),
    # certificates: the same consumer (refunds), public verification, an order's list
    HotQuery("certificate orders of a batch's refunds", ORDERS, by_ids(["ord-1", "ord-2"])),
    HotQuery("certificate order (its list)", ORDERS, by_id("ord-1")),
    HotQuery("refund's units noted", ORDERS, new_revocations("ord-1", [_REVOKED])._filter),
    HotQuery("units revoked", CERTS, revoke_update(_REVOKED)._filter),
    HotQuery("certificate by serial", SERIALS, by_id("7K3MQ9XD2F4H")),
    HotQuery("certificate", CERTS, by_id(cert_id("ord-1", "line-1", 1))),
    HotQuery("certificates of an order", CERTS, by_ids(_REVOKED.cert_ids)),
    # public verification counted, counterfeit reports, a museum's watch page
    HotQuery(
        "day's checks counted / report's ordinal", CHECKS, by_id(checks_id("m1", "2026-03-01"))
    ),
    HotQuery(
        "day counters of a range",
        CHECKS,
        by_ids([checks_id("m1", "2026-03-01"), checks_id("m1", "2026-03-02")]),
    ),
    HotQuery("report into its chunk", REPORTS, by_id(report_chunk_id("m1", "2026-03-01", 0))),
    HotQuery(
        "report chunks of a page",
        REPORTS,
        by_ids([report_chunk_id("m1", "2026-03-01", 0), report_chunk_id("m1", "2026-03-02", 1)]),
    ),
    HotQuery("museum names of the verify page", "holders", by_id("m1")),
    HotQuery("relic titles of the verify page", "assets", by_ids(["relic-r1", "relic-r2"])),
    # catalog consumer and HTTP requests
    HotQuery("holder", "holders", by_id("three-gorges")),
    HotQuery("asset", "assets", by_id("relic-r1")),
    HotQuery("ownership change", "assets", at_version("relic-r1", 2)),
    HotQuery("license status change", "licenses", at_version("lic-1a2b3c", 3)),
    HotQuery("grant lock taken over", "locks", stale_lock("grant:relic-r1", _NOW)),
    HotQuery("grant locks released", "locks", owned_locks(["grant:relic-r1"], "owner-1")),
    HotQuery("statement", "statements", by_id("three-gorges:2026-02")),
    HotQuery(
        "statements of a holder",
        "statements",
        by_ids(["three-gorges:2026-01", "three-gorges:2026-02"]),
    ),
    # scheduler
    HotQuery("live licenses", SCHEDULE, by_id(LIVE)),
    HotQuery("advances to post", SCHEDULE, by_id(ADVANCES)),
)
