"""Topics by aggregate. Each has a dead-letter twin, `<topic>.dlq`."""

__all__ = ["ALL_TOPICS", "DEFAULT_PARTITIONS", "TOPICS", "dlq_topic"]

DEFAULT_PARTITIONS = 6

TOPICS: dict[str, str] = {
    "catalog.museums": "Heritage institutions registered and updated",
    "catalog.relics": "Relics and their digital twins",
    "catalog.products": "Creative products: created, updated, activated, retired, unsellable",
    "catalog.stock": "Stock reservations per order: reserved, rejected, released, restocked",
    "orders.orders": "The storefront order saga",
    "ip.assets": "IP assets and their ownership shares",
    "ip.licenses": "License marketplace: granted, suspended, revoked, expired",
    "ip.royalties": "Royalty ledger postings, statements and payouts",
}


def dlq_topic(topic: str) -> str:
    return f"{topic}.dlq"


ALL_TOPICS: list[str] = [*TOPICS, *(dlq_topic(t) for t in TOPICS)]
