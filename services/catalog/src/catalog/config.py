"""catalog settings: the shared ones, plus its own database name and the
sign-in provider whose users it manages (museum staff, catalog.staff)."""

from pydantic import AliasChoices, Field, SecretStr, field_validator

from servicekit.settings import ServiceSettings

__all__ = ["Settings"]


class Settings(ServiceSettings):
    service_name: str = "catalog"
    mongodb_database: str = Field(
        "catalog", validation_alias=AliasChoices("CATALOG_MONGODB_DATABASE", "mongodb_database")
    )
    # Keycloak's base URL (no /realms/...); unset, or no secret: the staff
    # endpoints answer 503 "staff management is not configured"
    staff_provider_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+")
    staff_provider_realm: str = Field(default="relic-rebirth", pattern=r"^[A-Za-z0-9._-]+$")
    # a confidential client whose service account holds realm-management's
    # manage-users, view-users and query-users (deploy/keycloak/realm.json)
    staff_provider_client_id: str = "rebirth-staff-admin"
    staff_provider_client_secret: SecretStr | None = None

    @field_validator("staff_provider_url", "staff_provider_client_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # docker-compose passes an unset variable as ""
        return None if value == "" else value
