"""analytics settings: the shared ones, plus its own database name."""

from pydantic import AliasChoices, Field

from servicekit.settings import ServiceSettings

__all__ = ["Settings"]


class Settings(ServiceSettings):
    service_name: str = "analytics"
    mongodb_database: str = Field(
        "analytics", validation_alias=AliasChoices("ANALYTICS_MONGODB_DATABASE", "mongodb_database")
    )
