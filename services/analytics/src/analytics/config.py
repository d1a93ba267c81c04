"""analytics settings: the shared ones, plus its own database name and knobs."""

from pydantic import AliasChoices, Field, field_validator

from servicekit.settings import ServiceSettings

__all__ = ["Settings"]


class Settings(ServiceSettings):
    service_name: str = "analytics"
    mongodb_database: str = Field(
        "analytics", validation_alias=AliasChoices("ANALYTICS_MONGODB_DATABASE", "mongodb_database")
    )
    # how often the live projector checks whether a replay activated a new version
    projection_poll_ms: int = 1_000
    # after a poll's first events the projector waits this long for more, so a
    # low event rate still costs one $inc per projection document per batch,
    # not per event (the dashboards show sales this much later)
    projection_linger_ms: int = Field(100, ge=0, le=5_000)
    # how often the operator overview samples topic end offsets (events/s)
    overview_sample_ms: int = 5_000
    # how long applied event ids are kept to skip republished copies of them
    seen_retention_hours: int = 7 * 24
    # a replay records seen event ids and its progress every this many events
    replay_batch_events: int = 5_000
    # documents a replay folds in memory before it spills them to the store
    replay_max_docs: int = 500_000
    # the /dashboard page's sign-in (docs/sign-in.md): the OpenID provider's
    # issuer URL as the browser reaches it, and its public client (authorization
    # code + PKCE). None: the page takes a development token as before.
    # (a strict URL: its origin goes into the page's Content-Security-Policy)
    dashboard_oidc_authority: str | None = Field(
        default=None, pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~%/-]*)?$"
    )
    dashboard_oidc_client_id: str = Field(default="rebirth-dashboard", pattern=r"^[\w.-]+$")

    @field_validator("dashboard_oidc_authority", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return value or None  # DASHBOARD_OIDC_AUTHORITY= (empty): no provider
