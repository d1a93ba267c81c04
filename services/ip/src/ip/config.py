"""ip settings: the shared ones, plus its own database and royalty defaults."""

from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator

from servicekit.ratelimit import Rate
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
    # --- authenticity certificates (ip.certificates) ---
    # Ed25519 private key, PEM (PKCS#8). Unset outside production: a dev key is
    # generated into `cert_key_dir` on first run and reused (never committed).
    cert_signing_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("IP_CERT_SIGNING_KEY", "cert_signing_key")
    )
    # public keys of retired signing keys (PEM or base64url raw), still published
    # and honoured so certificates signed before a rotation stay verifiable
    cert_retired_keys: list[str] = Field(
        default_factory=list,
        validation_alias=AliasChoices("IP_CERT_RETIRED_KEYS", "cert_retired_keys"),
    )
    # the key of the serials' keyed hash: never rotate it (a redelivered order
    # must get the same serials); unset outside production: a dev file
    cert_serial_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("IP_CERT_SERIAL_KEY", "cert_serial_key")
    )
    cert_key_dir: str = Field(
        ".local/ip", validation_alias=AliasChoices("IP_CERT_KEY_DIR", "cert_key_dir")
    )
    # public verification, per client (servicekit.ratelimit)
    cert_verify_rate: Rate = Field(
        "120/minute", validation_alias=AliasChoices("IP_CERT_VERIFY_RATE", "cert_verify_rate")
    )
    # where a phone opens a certificate (QR codes, the verify URL)
    public_base_url: str = Field(
        "http://127.0.0.1:8003",
        validation_alias=AliasChoices("IP_PUBLIC_BASE_URL", "public_base_url"),
    )
    # counterfeit reports, per client (the API and the verify page's form)
    cert_report_rate: Rate = Field(
        "10/minute", validation_alias=AliasChoices("IP_CERT_REPORT_RATE", "cert_report_rate")
    )
    # the relic's picture on the verify page: a URL template with `{relic_id}`
    # (catalog's relic events carry no image, so ip cannot keep one itself);
    # empty: the page draws the relic's name instead. Its origin joins img-src.
    relic_image_url: str = Field(
        "", validation_alias=AliasChoices("IP_RELIC_IMAGE_URL", "relic_image_url")
    )

    @field_validator("relic_image_url")
    @classmethod
    def _image_template(cls, value: str) -> str:
        if value and (urlsplit(value).scheme not in {"http", "https"} or "{relic_id}" not in value):
            raise ValueError("IP_RELIC_IMAGE_URL: an http(s) URL with {relic_id}, or empty")
        return value

    @model_validator(mode="after")
    def _certificate_keys_in_production(self) -> "Settings":
        if self.environment == "production" and (
            self.cert_signing_key is None or self.cert_serial_key is None
        ):
            raise ValueError(
                "IP_CERT_SIGNING_KEY and IP_CERT_SERIAL_KEY are required in production"
            )
        return self
