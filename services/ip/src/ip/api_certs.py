"""Certificate routes: public verification (no token, rate-limited per
client, every check counted: ip.watch), the signed form, the QR codes, the
published keys, and an order's certificates for its museum, licensee or an
operator."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from ip.deps import Svc
from ip.qr import page_url, qr_png, qr_svg
from ip.schemas_certs import CertificateRead, Jwks, SignedCertificate
from ip.signing import BadSignature, jws_header
from ip.watch import Watch
from ip.watch_store import WatchStore
from servicekit.app import Runtime
from servicekit.auth import CurrentPrincipal
from servicekit.ratelimit import RateLimit

__all__ = ["LIMITED", "WatchDep", "base_url", "router", "verify_limit", "watch_of"]

router = APIRouter(tags=["certificates"])
verify_limit = RateLimit("certificate verification", "cert_verify_rate")
# documented on every rate-limited route (problem+json, with Retry-After)
LIMITED: dict[int | str, dict[str, object]] = {
    429: {"description": "Too many requests from this client; retry after Retry-After seconds"}
}
# a QR code never changes for a serial: phones and proxies may keep it a day
_QR_CACHE = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}


def base_url(request: Request) -> str:
    return str(getattr(request.app.state.runtime.settings, "public_base_url", request.base_url))


def watch_of(runtime: Runtime, svc: Svc) -> Watch:
    """One Watch per runtime (built on first use, like the services)."""
    existing = getattr(runtime, "_ip_watch", None)
    if isinstance(existing, Watch):
        return existing
    built = Watch(svc.authenticity, WatchStore(runtime.db), svc.clock)
    setattr(runtime, "_ip_watch", built)  # noqa: B010
    return built


def _watch(request: Request, svc: Svc) -> Watch:
    return watch_of(request.app.state.runtime, svc)


WatchDep = Annotated[Watch, Depends(_watch)]


@router.get("/.well-known/jwks.json", response_model=Jwks)
async def jwks(svc: Svc) -> Jwks:
    """The certificate signing keys: the current one and every retired one."""
    return Jwks.model_validate(svc.authenticity.keys.ring.jwks())


@router.get(
    "/certificates/{serial}",
    response_model=CertificateRead,
    dependencies=[Depends(verify_limit)],
    responses=LIMITED,
)
async def verify_certificate(serial: str, request: Request, watch: WatchDep) -> CertificateRead:
    """Is this a licensed unit? 200 valid or revoked; 404 unknown; 422
    malformed. Each answer but a malformed serial counts as a verification."""
    cert = await watch.verify(serial)
    return CertificateRead.of(cert, base_url(request))


@router.get(
    "/certificates/{serial}/signed",
    response_model=SignedCertificate,
    dependencies=[Depends(verify_limit)],
    responses=LIMITED,
)
async def signed_certificate(serial: str, request: Request, svc: Svc) -> SignedCertificate:
    cert = await svc.authenticity.verify(serial)
    kid = _kid_of(cert.jws)
    return SignedCertificate(
        serial=cert.serial,
        kid=kid,
        jws=cert.jws,
        status=cert.status,
        jwks_url=f"{base_url(request).rstrip('/')}/.well-known/jwks.json",
    )


_QR_RESPONSES: dict[int | str, dict[str, object]] = {
    404: {"description": "Unknown serial"},
    422: {"description": "Malformed serial"},
    **LIMITED,
}


@router.get(
    "/certificates/{serial}/qr.svg",
    response_class=Response,
    dependencies=[Depends(verify_limit)],
    responses={200: {"content": {"image/svg+xml": {}}}, **_QR_RESPONSES},
)
async def certificate_qr_svg(serial: str, request: Request, svc: Svc) -> Response:
    """The QR code of the certificate's verify page (SVG)."""
    cert = await svc.authenticity.verify(serial)
    body = qr_svg(page_url(base_url(request), cert.serial))
    return Response(body, media_type="image/svg+xml", headers=_QR_CACHE)


@router.get(
    "/certificates/{serial}/qr.png",
    response_class=Response,
    dependencies=[Depends(verify_limit)],
    responses={200: {"content": {"image/png": {}}}, **_QR_RESPONSES},
)
async def certificate_qr_png(serial: str, request: Request, svc: Svc) -> Response:
    """The QR code of the certificate's verify page (PNG, for print)."""
    cert = await svc.authenticity.verify(serial)
    body = qr_png(page_url(base_url(request), cert.serial))
    return Response(body, media_type="image/png", headers=_QR_CACHE)


@router.get("/orders/{order_id}/certificates", response_model=list[CertificateRead])
async def order_certificates(
    order_id: str, request: Request, principal: CurrentPrincipal, svc: Svc
) -> list[CertificateRead]:
    """An order's certificates, each with its verify page and QR code URLs
    (the storefront's order view links here)."""
    certs = await svc.authenticity.of_order(principal, order_id)
    return [CertificateRead.of(c, base_url(request)) for c in certs]


def _kid_of(jws: str) -> str:
    try:
        return str(jws_header(jws).get("kid", ""))
    except BadSignature:
        return ""
