"""catalog settings: the shared ones, plus its own database name."""

from pydantic import AliasChoices, Field

from servicekit.settings import ServiceSettings

__all__ = ["Settings"]


class Settings(ServiceSettings):
    service_name: str = "catalog"
    mongodb_database: str = Field(
        "catalog", validation_alias=AliasChoices("CATALOG_MONGODB_DATABASE", "mongodb_database")
    )
