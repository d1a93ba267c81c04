"""Request and response schemas of the certificate routes."""

from datetime import datetime

from pydantic import BaseModel

from ip.certificates import CHINA, Certificate
from ip.qr import page_url
from ip.serials import format_serial

__all__ = ["CertificateRead", "Jwk", "Jwks", "SignedCertificate"]


class CertificateRead(BaseModel):
    """What a unit is and whether its certificate stands (public: no order,
    no tourist)."""

    serial: str
    serial_display: str
    status: str  # valid | revoked
    product_id: str
    sku: str
    relic_ids: list[str]
    museum_id: str | None
    licensee_id: str | None
    license_id: str
    unit: int
    units: int
    sold_on: str
    revoked_at: datetime | None
    verify_url: str  # this JSON answer
    signed_url: str
    page_url: str  # the public verify page (what the QR code encodes)
    qr_svg_url: str
    qr_png_url: str

    @classmethod
    def of(cls, c: Certificate, base_url: str) -> "CertificateRead":
        base = base_url.rstrip("/")
        url = f"{base}/certificates/{c.serial}"
        return cls(
            serial=c.serial,
            serial_display=format_serial(c.serial),
            status=c.status,
            product_id=c.product_id,
            sku=c.sku,
            relic_ids=list(c.relic_ids),
            museum_id=c.museum_id,
            licensee_id=c.licensee_id,
            license_id=c.license_id,
            unit=c.unit,
            units=c.units,
            sold_on=c.sold_at.astimezone(CHINA).date().isoformat(),
            revoked_at=c.revoked_at,
            verify_url=url,
            signed_url=f"{url}/signed",
            page_url=page_url(base, c.serial),
            qr_svg_url=f"{url}/qr.svg",
            qr_png_url=f"{url}/qr.png",
        )


class SignedCertificate(BaseModel):
    """The signed form: `jws` is a compact JWS (EdDSA) of the certificate's
    claims, checkable offline with the key `kid` of /.well-known/jwks.json.
    `status` is the online status when it was fetched (not signed)."""

    serial: str
    kid: str
    jws: str
    status: str
    jwks_url: str


class Jwk(BaseModel):
    kty: str
    crv: str
    x: str
    kid: str
    use: str
    alg: str


class Jwks(BaseModel):
    keys: list[Jwk]
