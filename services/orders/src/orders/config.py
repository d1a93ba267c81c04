"""orders settings: the shared ones, plus its database, the payment window and
the sandbox payment provider."""

from pydantic import AliasChoices, Field, SecretStr, model_validator

from servicekit.ratelimit import Rate
from servicekit.settings import ServiceSettings

__all__ = ["DEV_WEBHOOK_SECRET", "Settings"]

DEV_WEBHOOK_SECRET = "dev-only-webhook-secret-change-me-0123456789"


def _env(name: str, field: str) -> AliasChoices:
    return AliasChoices(f"ORDERS_{name}", field)


class Settings(ServiceSettings):
    service_name: str = "orders"
    mongodb_database: str = Field(
        "orders", validation_alias=_env("MONGODB_DATABASE", "mongodb_database")
    )
    # how long a confirmed order waits for its payment before it is cancelled
    payment_window_seconds: float = Field(
        900, gt=0, validation_alias=_env("PAYMENT_WINDOW_SECONDS", "payment_window_seconds")
    )
    expiry_sweep_seconds: float = Field(
        5, gt=0, validation_alias=_env("EXPIRY_SWEEP_SECONDS", "expiry_sweep_seconds")
    )
    # a provider call that takes longer leaves the payment `timed_out`
    payment_provider_timeout_seconds: float = Field(
        10,
        gt=0,
        validation_alias=_env(
            "PAYMENT_PROVIDER_TIMEOUT_SECONDS", "payment_provider_timeout_seconds"
        ),
    )
    payment_webhook_secret: SecretStr = Field(
        SecretStr(DEV_WEBHOOK_SECRET),
        validation_alias=_env("PAYMENT_WEBHOOK_SECRET", "payment_webhook_secret"),
    )
    # where the sandbox provider sends its webhooks; by default the address the
    # payment request came in on
    payment_webhook_url: str | None = Field(
        None, validation_alias=_env("PAYMENT_WEBHOOK_URL", "payment_webhook_url")
    )
    payment_webhook_tolerance_seconds: int = Field(
        300,
        validation_alias=_env(
            "PAYMENT_WEBHOOK_TOLERANCE_SECONDS", "payment_webhook_tolerance_seconds"
        ),
    )
    sandbox_webhook_delay_seconds: float = Field(
        0.1,
        ge=0,
        validation_alias=_env("SANDBOX_WEBHOOK_DELAY_SECONDS", "sandbox_webhook_delay_seconds"),
    )
    # the sandbox retries a failed webhook with capped exponential backoff
    # (base, 2x, 4x ... up to the cap) until this long after the first attempt
    sandbox_retry_base_seconds: float = Field(
        1, gt=0, validation_alias=_env("SANDBOX_RETRY_BASE_SECONDS", "sandbox_retry_base_seconds")
    )
    sandbox_retry_cap_seconds: float = Field(
        3_600, gt=0, validation_alias=_env("SANDBOX_RETRY_CAP_SECONDS", "sandbox_retry_cap_seconds")
    )
    sandbox_retry_for_seconds: float = Field(
        3 * 24 * 3_600,
        gt=0,
        validation_alias=_env("SANDBOX_RETRY_FOR_SECONDS", "sandbox_retry_for_seconds"),
    )
    # how often the sandbox looks for due deliveries another replica filed
    sandbox_delivery_poll_seconds: float = Field(
        1,
        gt=0,
        validation_alias=_env("SANDBOX_DELIVERY_POLL_SECONDS", "sandbox_delivery_poll_seconds"),
    )
    # reconciliation: a payment without a verdict this long is asked about
    payment_reconcile_after_seconds: float = Field(
        60,
        ge=0,
        validation_alias=_env("PAYMENT_RECONCILE_AFTER_SECONDS", "payment_reconcile_after_seconds"),
    )
    payment_reconcile_interval_seconds: float = Field(
        10,
        gt=0,
        validation_alias=_env(
            "PAYMENT_RECONCILE_INTERVAL_SECONDS", "payment_reconcile_interval_seconds"
        ),
    )

    # per caller (token subject, else client address) and process; over it, 429.
    # High enough for a burst of guests behind one address (the 200-way race).
    checkout_rate: Rate = Field(
        "600/minute", validation_alias=_env("CHECKOUT_RATE", "checkout_rate")
    )
    payment_rate: Rate = Field("600/minute", validation_alias=_env("PAYMENT_RATE", "payment_rate"))

    @model_validator(mode="after")
    def _refuse_dev_webhook_secret(self) -> "Settings":
        secret = self.payment_webhook_secret.get_secret_value()
        if self.environment == "production" and (secret == DEV_WEBHOOK_SECRET or len(secret) < 32):
            raise ValueError("ORDERS_PAYMENT_WEBHOOK_SECRET must be a strong secret in production")
        return self
