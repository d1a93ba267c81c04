"""ip settings: the shared ones, plus its own database and royalty defaults."""

from pydantic import AliasChoices, Field

from servicekit.settings import ServiceSettings

__all__ = ["Settings"]


class Settings(ServiceSettings):
    service_name: str = "ip"
    mongodb_database: str = Field(
        "ip", validation_alias=AliasChoices("IP_MONGODB_DATABASE", "mongodb_database")
    )
    # a donated relic opens as museum (10,000 - this) / donor (this): the seed case 70/30
    donor_share_bps: int = Field(
        3000,
        ge=0,
        le=10_000,
        validation_alias=AliasChoices("IP_DONOR_SHARE_BPS", "donor_share_bps"),
    )
    # how often the scheduler expires licenses and reconciles advances
    scheduler_interval_s: float = Field(
        5.0,
        gt=0,
        validation_alias=AliasChoices("IP_SCHEDULER_INTERVAL_S", "scheduler_interval_s"),
    )
    # closing a period waits this long for postings already in flight
    close_grace_s: float = Field(
        2.0,
        ge=0,
        validation_alias=AliasChoices("IP_CLOSE_GRACE_S", "close_grace_s"),
    )
