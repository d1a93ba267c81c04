"""Settings every service reads from the environment."""

from typing import Literal

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEV_JWT_SECRET", "ServiceSettings"]

DEV_JWT_SECRET = "dev-only-secret-change-me-0123456789abcdef"


class ServiceSettings(BaseSettings):
    """Shared settings; each service subclasses it to name its own database."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    service_name: str = "service"
    environment: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_consumer_group: str | None = None  # defaults to the service name

    mongodb_url: str = "mongodb://127.0.0.1:27017"
    mongodb_database: str = "service"

    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    # during a rotation, tokens signed with the previous secret stay valid
    jwt_previous_secret: SecretStr | None = None
    jwt_public_key: str | None = None  # PEM, for RS256 verification
    jwt_private_key: SecretStr | None = None  # PEM, only where tokens are minted
    jwt_issuer: str = "relic-rebirth"
    jwt_audience: str = "relic-rebirth"

    max_body_bytes: int = 1_048_576  # larger request bodies get 413

    consumer_max_attempts: int = 3
    consumer_backoff_ms: int = 100
    # the relay publishes what this service writes at once (outbox_hints);
    # the sweep finds anything else pending (a crashed replica's events)
    outbox_sweep_interval_ms: int = 5_000

    @property
    def consumer_group(self) -> str:
        return self.kafka_consumer_group or self.service_name

    @model_validator(mode="after")
    def _refuse_unsafe_secrets(self) -> "ServiceSettings":
        if self.environment == "production":
            if self.jwt_algorithm == "HS256" and (
                self.jwt_secret.get_secret_value() == DEV_JWT_SECRET
                or len(self.jwt_secret.get_secret_value()) < 32
            ):
                raise ValueError("JWT_SECRET must be set to a strong secret in production")
        if self.jwt_algorithm == "RS256" and not self.jwt_public_key:
            raise ValueError("JWT_PUBLIC_KEY is required with JWT_ALGORITHM=RS256")
        return self
