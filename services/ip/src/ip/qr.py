"""QR codes of certificates (segno: pure Python, SVG and PNG without Pillow).

A code encodes the certificate's public verify page URL, so a phone's camera
opens the page. Error correction M (15 %) survives a scuffed label; the
uppercase URL path keeps the code small.
"""

import io

import segno

__all__ = ["page_url", "qr_png", "qr_svg"]


def page_url(base_url: str, serial: str) -> str:
    return f"{base_url.rstrip('/')}/verify/{serial}"


def _code(url: str) -> segno.QRCode:
    return segno.make(url, error="m", micro=False)


def qr_svg(url: str, *, scale: int = 4) -> bytes:
    out = io.BytesIO()
    _code(url).save(out, kind="svg", scale=scale, border=4, xmldecl=False, title=url)
    return out.getvalue()


def qr_png(url: str, *, scale: int = 8) -> bytes:
    out = io.BytesIO()
    _code(url).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()
