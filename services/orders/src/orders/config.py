"""orders settings: the shared ones, plus its own database name."""

from pydantic import AliasChoices, Field

from servicekit.settings import ServiceSettings

__all__ = ["Settings"]


class Settings(ServiceSettings):
    service_name: str = "orders"
    mongodb_database: str = Field(
        "orders", validation_alias=AliasChoices("ORDERS_MONGODB_DATABASE", "mongodb_database")
    )
