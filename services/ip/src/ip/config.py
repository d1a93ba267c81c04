"""ip settings: the shared ones, plus its own database name."""

from pydantic import AliasChoices, Field

from servicekit.settings import ServiceSettings

__all__ = ["Settings"]


class Settings(ServiceSettings):
    service_name: str = "ip"
    mongodb_database: str = Field(
        "ip", validation_alias=AliasChoices("IP_MONGODB_DATABASE", "mongodb_database")
    )
