"""The public verify page a phone opens from a certificate's QR code:
server-rendered (Jinja2, autoescaped), Chinese and English side by side, no
script at all, and a strict Content-Security-Policy like the analytics
dashboard's. States: valid, revoked (200), unknown (404), malformed (422),
and the counterfeit report form's answers (received, or its errors: 422).

Every text a visitor sends comes back only through autoescaping, never as
markup; the page loads only its own stylesheet and QR code (and, when
IP_RELIC_IMAGE_URL is set, images from that one origin).
"""

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from ip.api_certs import WatchDep, verify_limit
from ip.api_reports import report_limit
from ip.certificates import CHINA
from ip.errors import BadInput, MalformedCertificateSerial, UnknownCertificate
from ip.schemas_reports import ReportCreate
from ip.serials import format_serial
from ip.watch import CertCard

__all__ = ["page_headers", "router"]

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
FORM_FIELDS = ("serial", "where_seen", "museum_id", "photo_url", "text")


def page_headers(image_template: str = "") -> dict[str, str]:
    """The dashboard's policy, minus scripts and connections: this page has none."""
    img = "img-src 'self'"
    if image_template:
        parts = urlsplit(image_template)
        img += f" {parts.scheme}://{parts.netloc}"
    csp = [
        "default-src 'none'",
        "style-src 'self'",
        img,
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    return {
        "Content-Security-Policy": "; ".join(csp),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",  # the status can change (a refund revokes)
    }


def _image_template(request: Request) -> str:
    return str(getattr(request.app.state.runtime.settings, "relic_image_url", "") or "")


def _render(request: Request, status: int, **context: Any) -> HTMLResponse:
    serial = context.get("serial") or ""
    base: dict[str, Any] = {
        "root": "../",  # pages under /verify/: links stay relative (gateway prefixes)
        "state": "lookup",
        "title_zh": "正品验证",
        "title_en": "Authenticity check",
        "card": None,
        "serial_display": "",
        "serial_input": serial,
        "errors": [],
        "form": dict.fromkeys(FORM_FIELDS, "") | {"serial": serial},
    }
    headers = page_headers(_image_template(request))
    return templates.TemplateResponse(
        request, "verify.html", base | context, status_code=status, headers=headers
    )


def _card_context(request: Request, card: CertCard) -> dict[str, Any]:
    cert = card.cert
    relic_id = cert.relic_ids[0] if cert.relic_ids else ""
    template = _image_template(request)
    name_zh, name_en = card.relic_titles.get(relic_id, ("", None))
    return {
        "card": card,
        "state": "revoked" if cert.status == "revoked" else "valid",
        "serial": cert.serial,
        "serial_display": format_serial(cert.serial),
        "relic_name": name_zh or relic_id,
        "relic_name_en": name_en if name_en and name_en != name_zh else None,
        "relic_image": template.replace("{relic_id}", quote(relic_id, safe="")) if template else "",
        "museum_zh": card.museum_name_zh or cert.museum_id or "—",
        "museum_en": card.museum_name_en,
        "sold_on": cert.sold_at.astimezone(CHINA).date().isoformat(),
        "qr_url": f"certificates/{cert.serial}/qr.svg",
        "signed_url": f"certificates/{cert.serial}/signed",
    }


@router.get("/verify", name="verify_lookup", response_class=HTMLResponse, response_model=None)
async def verify_lookup(
    request: Request, serial: Annotated[str | None, Query(max_length=40)] = None
) -> HTMLResponse | RedirectResponse:
    """A typed serial goes to its page; no serial: the lookup form."""
    if serial and serial.strip():
        # relative, so it also works behind the gateway's /api/ip/ prefix
        return RedirectResponse(f"verify/{quote(serial.strip(), safe='')}", status_code=303)
    return _render(request, 200, root="./")


@router.get(
    "/verify/{serial}",
    name="verify_page",
    response_class=HTMLResponse,
    dependencies=[Depends(verify_limit)],
)
async def verify_page(serial: str, request: Request, watch: WatchDep) -> HTMLResponse:
    try:
        cert = await watch.verify(serial)
    except MalformedCertificateSerial as exc:
        return _render(request, 422, state="malformed", serial=serial[:40], reason=exc.detail)
    except UnknownCertificate:
        display = format_serial(serial.upper().replace("-", ""))
        return _render(request, 404, state="unknown", serial=serial, serial_display=display)
    card = await watch.card(cert)
    return _render(request, 200, **_card_context(request, card))


@router.post(
    "/verify/report",
    name="verify_report_form",
    response_class=HTMLResponse,
    dependencies=[Depends(report_limit)],
)
async def verify_report_form(request: Request, watch: WatchDep) -> HTMLResponse:
    """The page's report form (urlencoded); the same rules as POST /reports."""
    raw = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=20)
    values = {k: raw[k][0] for k in FORM_FIELDS if raw.get(k)}
    form = dict.fromkeys(FORM_FIELDS, "") | values
    try:
        body = ReportCreate.model_validate(values)
        report = await watch.report(body.to_domain())
    except ValidationError as exc:
        errors = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        return _render(request, 422, state="report-error", form=form, errors=errors)
    except BadInput as exc:
        return _render(request, 422, state="report-error", form=form, errors=[exc.detail])
    return _render(request, 200, state="reported", report=report, serial=report.serial or "")
