"""`ip verify <file-or-serial>`: check a certificate's signature offline.

    ip verify cert.json --jwks jwks.json      fully offline: a saved signed form
                                              (JSON with `jws`, or the bare JWS)
    ip verify 7K3M-Q9XD-2F4H                  fetches the signed form and the
                                              keys from --url, checks the
                                              signature locally, shows the status

Exit status: 0 valid, 1 revoked, unknown or forged (the reason is printed),
2 a malformed serial or unusable input.
"""

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from ip.serials import MalformedSerial, parse_serial
from ip.signing import BadSignature, public_key_of_jwk, verify_jws

__all__ = ["main", "verify_signed"]

DEFAULT_URL = "http://127.0.0.1:8003"


def verify_signed(
    text: str, jwks: Mapping[str, object], serial: str | None = None
) -> dict[str, object]:
    """The verified claims of a signed certificate (the JSON signed form or a
    bare compact JWS), or BadSignature with the reason."""
    text = text.strip()
    token = text
    if text.startswith("{"):
        doc = json.loads(text)
        token = str(doc.get("jws", "")) if isinstance(doc, dict) else ""
    keys_doc = jwks.get("keys")
    if not isinstance(keys_doc, list):
        raise BadSignature("the key set has no `keys`")
    keys = {}
    for jwk in keys_doc:
        if isinstance(jwk, dict) and isinstance(jwk.get("kid"), str):
            keys[jwk["kid"]] = public_key_of_jwk(jwk)
    claims = verify_jws(token, keys)
    if serial is not None and claims.get("serial") != serial:
        raise BadSignature(f"signed for serial {claims.get('serial')}, not {serial}")
    return claims


def _fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (operator's URL)
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _jwks(source: str | None, base: str) -> dict[str, object]:
    if source and Path(source).is_file():
        loaded = json.loads(Path(source).read_text())
    else:
        status, body = _fetch(source or f"{base}/.well-known/jwks.json")
        if status != 200:
            raise BadSignature(f"could not fetch the key set: HTTP {status}")
        loaded = json.loads(body)
    return loaded if isinstance(loaded, dict) else {}


def _verify(args: argparse.Namespace) -> int:
    base = args.url.rstrip("/")
    target = Path(args.target)
    status: str | None = None
    serial: str | None = None
    if target.is_file():
        text = target.read_text()
    else:
        try:
            serial = parse_serial(args.target)
        except MalformedSerial as exc:
            print(f"malformed serial: {exc}")  # noqa: T201
            return 2
        code, text = _fetch(f"{base}/certificates/{serial}/signed")
        if code == 404:
            print(f"{serial}: UNKNOWN - no such certificate (not a licensed unit)")  # noqa: T201
            return 1
        if code != 200:
            print(f"{serial}: could not fetch the certificate: HTTP {code}")  # noqa: T201
            return 2
        status = str(json.loads(text).get("status"))
    try:
        claims = verify_signed(text, _jwks(args.jwks, base), serial)
    except (BadSignature, json.JSONDecodeError, ValueError) as exc:
        print(f"FORGED or damaged certificate: {exc}")  # noqa: T201
        return 1
    print(json.dumps(claims, ensure_ascii=False, indent=2))  # noqa: T201
    if status == "revoked":
        print(f"{claims.get('serial')}: signature valid, certificate REVOKED")  # noqa: T201
        return 1
    what = "VALID" if status == "valid" else "signature valid (status not checked offline)"
    print(f"{claims.get('serial')}: {what}")  # noqa: T201
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ip", description="check relic-rebirth certificates")
    sub = parser.add_subparsers(dest="command", required=True)
    verify = sub.add_parser("verify", help="check a certificate (file or serial)")
    verify.add_argument("target", help="a saved signed certificate, or a serial")
    verify.add_argument("--url", default=DEFAULT_URL, help="the ip service (default %(default)s)")
    verify.add_argument("--jwks", help="a JWKS file or URL (default: <url>/.well-known/jwks.json)")
    args = parser.parse_args(argv)
    return _verify(args)


if __name__ == "__main__":
    sys.exit(main())
