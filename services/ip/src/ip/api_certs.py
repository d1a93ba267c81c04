"""Certificate routes: public verification (no token, rate-limited per
client), the signed form, the published keys, and an order's certificates
for its museum, licensee or an operator."""

from fastapi import APIRouter, Depends, Request

from ip.deps import Svc
from ip.schemas_certs import CertificateRead, Jwks, SignedCertificate
from ip.signing import BadSignature, jws_header
from servicekit.auth import CurrentPrincipal
from servicekit.ratelimit import RateLimit

__all__ = ["router"]

router = APIRouter(tags=["certificates"])
_verify_limit = RateLimit("certificate verification", "cert_verify_rate")


def _base_url(request: Request) -> str:
    return str(getattr(request.app.state.runtime.settings, "public_base_url", request.base_url))


@router.get("/.well-known/jwks.json", response_model=Jwks)
async def jwks(svc: Svc) -> Jwks:
    """The certificate signing keys: the current one and every retired one."""
    return Jwks.model_validate(svc.authenticity.keys.ring.jwks())


@router.get(
    "/certificates/{serial}",
    response_model=CertificateRead,
    dependencies=[Depends(_verify_limit)],
)
async def verify_certificate(serial: str, request: Request, svc: Svc) -> CertificateRead:
    """Is this a licensed unit? 200 valid or revoked; 404 unknown; 422 malformed."""
    cert = await svc.authenticity.verify(serial)
    return CertificateRead.of(cert, _base_url(request))


@router.get(
    "/certificates/{serial}/signed",
    response_model=SignedCertificate,
    dependencies=[Depends(_verify_limit)],
)
async def signed_certificate(serial: str, request: Request, svc: Svc) -> SignedCertificate:
    cert = await svc.authenticity.verify(serial)
    kid = _kid_of(cert.jws)
    return SignedCertificate(
        serial=cert.serial,
        kid=kid,
        jws=cert.jws,
        status=cert.status,
        jwks_url=f"{_base_url(request).rstrip('/')}/.well-known/jwks.json",
    )


@router.get("/orders/{order_id}/certificates", response_model=list[CertificateRead])
async def order_certificates(
    order_id: str, request: Request, principal: CurrentPrincipal, svc: Svc
) -> list[CertificateRead]:
    certs = await svc.authenticity.of_order(principal, order_id)
    return [CertificateRead.of(c, _base_url(request)) for c in certs]


def _kid_of(jws: str) -> str:
    try:
        return str(jws_header(jws).get("kid", ""))
    except BadSignature:
        return ""
