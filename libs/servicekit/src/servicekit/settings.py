"""Settings every service reads from the environment."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DEV_JWT_SECRET",
    "OIDC_ALGORITHMS",
    "OidcIssuer",
    "PlatformRole",
    "ServiceSettings",
]

DEV_JWT_SECRET = "dev-only-secret-change-me-0123456789abcdef"

# asymmetric only: an OpenID issuer's public key must never double as an HMAC
# secret (algorithm confusion), and "none" is never a signature
OIDC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")


PlatformRole = Literal["tourist", "museum", "licensee", "operator"]


class OidcIssuer(BaseModel):
    """An OpenID Connect provider whose access tokens this service accepts
    (see docs/sign-in.md). OIDC_ISSUERS holds a JSON list of these."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # compared with the token's `iss` exactly as written (so not an HttpUrl,
    # which would add a trailing slash to a bare host)
    issuer: str = Field(pattern=r"^https?://[^\s/]+")
    audience: str = Field(min_length=1)
    # default: the jwks_uri of the issuer's discovery document
    jwks_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+")
    algorithms: tuple[str, ...] = ("RS256", "PS256", "ES256")
    leeway_seconds: float = Field(default=30, ge=0, le=120)  # clock skew for exp/nbf/iat
    jwks_cache_seconds: float = Field(default=300, gt=0)  # how long a dropped key still verifies
    # an unknown kid refetches the key set at most this often (a rotation waits
    # at most this long; forged kids cannot hammer the provider)
    jwks_refresh_cooldown_seconds: float = Field(default=30, ge=0)
    # what this issuer may vouch for: a museum's or licensee's own provider
    # gets its own role and ids only, never `operator` (None: any id)
    roles: tuple[PlatformRole, ...] = ("tourist", "museum", "licensee", "operator")
    museum_ids: tuple[str, ...] | None = None
    licensee_ids: tuple[str, ...] | None = None
    # a user is this prefix + the token's `sub`: issuers' subjects are their
    # own, so one issuer can never name another's user (distinct per issuer)
    subject_prefix: str = ""

    @model_validator(mode="after")
    def _asymmetric_only(self) -> "OidcIssuer":
        refused = [alg for alg in self.algorithms if alg not in OIDC_ALGORITHMS]
        if refused or not self.algorithms:
            raise ValueError(f"OIDC algorithms must be among {', '.join(OIDC_ALGORITHMS)}")
        return self


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

    # the platform's own tokens (rebirth-token): development and tests only,
    # refused in production whatever the secret (see `oidc_only`)
    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    # during a rotation, tokens signed with the previous secret stay valid
    jwt_previous_secret: SecretStr | None = None
    jwt_public_key: str | None = None  # PEM, for RS256 verification
    jwt_private_key: SecretStr | None = None  # PEM, only where tokens are minted
    jwt_issuer: str = "relic-rebirth"
    jwt_audience: str = "relic-rebirth"
    # OpenID Connect providers (Keycloak, a museum's own); none: only the tokens
    # above (development); production needs at least one
    oidc_issuers: list[OidcIssuer] = Field(default_factory=list)

    max_body_bytes: int = 1_048_576  # larger request bodies get 413

    consumer_max_attempts: int = 3
    consumer_backoff_ms: int = 100
    # the relay publishes what this service writes at once (outbox_hints);
    # the sweep finds anything else pending (a crashed replica's events)
    outbox_sweep_interval_ms: int = 5_000

    @property
    def consumer_group(self) -> str:
        return self.kafka_consumer_group or self.service_name

    @property
    def oidc_only(self) -> bool:
        """Production accepts only the configured OpenID issuers' tokens: the
        platform's own (HS256 with JWT_SECRET, or RS256) are development's."""
        return self.environment == "production"

    @model_validator(mode="after")
    def _refuse_unsafe_settings(self) -> "ServiceSettings":
        if self.oidc_only and not self.oidc_issuers:
            raise ValueError("OIDC_ISSUERS must name at least one OpenID issuer in production")
        if self.jwt_algorithm == "RS256" and not self.jwt_public_key:
            raise ValueError("JWT_PUBLIC_KEY is required with JWT_ALGORITHM=RS256")
        names = [issuer.issuer for issuer in self.oidc_issuers]
        if len(set(names)) != len(names) or self.jwt_issuer in names:
            # a token is routed to its verifier by `iss`: each must name one
            raise ValueError("OIDC_ISSUERS must be distinct from each other and from JWT_ISSUER")
        prefixes = [issuer.subject_prefix for issuer in self.oidc_issuers]
        if len(set(prefixes)) != len(prefixes):
            # two issuers with one subject space: either could sign in as the other's users
            raise ValueError("each of OIDC_ISSUERS needs its own subject_prefix (one may be empty)")
        return self
