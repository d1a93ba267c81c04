"""Ed25519 signatures of certificates as compact JWS (RFC 7515, `alg` EdDSA,
RFC 8037), and the public keys as a JWKS with key ids.

A key id is the key's RFC 7638 JWK thumbprint (SHA-256 of its canonical
public JWK, base64url): anyone can recompute it from the published key. The
`KeyRing` signs with its current key and verifies with the current one and
every retired public key, so certificates signed before a rotation stay
verifiable. No I/O here (ip.cert_keys loads keys from settings and files).
"""

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "BadSignature",
    "KeyRing",
    "b64url",
    "jwk_of",
    "jws_header",
    "public_key_of_jwk",
    "raw_public",
    "thumbprint",
    "verify_jws",
]

JWS_TYPE = "relic-cert+jws"


class BadSignature(ValueError):
    """A signed certificate that does not verify, and why."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise BadSignature("not base64url") from exc


def _canonical(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def thumbprint(key: Ed25519PublicKey) -> str:
    """RFC 7638: the members crv, kty, x in lexical order, no spaces."""
    members = {"crv": "Ed25519", "kty": "OKP", "x": b64url(raw_public(key))}
    return b64url(hashlib.sha256(_canonical(members)).digest())


def jwk_of(key: Ed25519PublicKey) -> dict[str, str]:
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64url(raw_public(key)),
        "kid": thumbprint(key),
        "use": "sig",
        "alg": "EdDSA",
    }


def public_key_of_jwk(jwk: Mapping[str, object]) -> Ed25519PublicKey:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(jwk.get("x"), str):
        raise BadSignature("not an OKP/Ed25519 key")
    raw = _unb64url(str(jwk["x"]))
    if len(raw) != 32:
        raise BadSignature("an Ed25519 public key has 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


@dataclass(frozen=True)
class KeyRing:
    """The current signing key and the retired public keys still honoured."""

    current: Ed25519PrivateKey
    retired: Sequence[Ed25519PublicKey] = field(default_factory=tuple)

    @property
    def kid(self) -> str:
        return thumbprint(self.current.public_key())

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        keys = {thumbprint(k): k for k in self.retired}
        keys[self.kid] = self.current.public_key()
        return keys

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The current key first, then the retired ones."""
        current = self.current.public_key()
        others = [jwk_of(k) for k in self.retired if thumbprint(k) != self.kid]
        return {"keys": [jwk_of(current), *others]}

    def sign(self, claims: Mapping[str, object]) -> str:
        """A compact JWS of the claims (Ed25519 is deterministic: the same
        claims and key always give the same token)."""
        header = {"alg": "EdDSA", "kid": self.kid, "typ": JWS_TYPE}
        signing_input = f"{b64url(_canonical(header))}.{b64url(_canonical(claims))}"
        return f"{signing_input}.{b64url(self.current.sign(signing_input.encode()))}"


def _parts(token: str) -> list[str]:
    parts = token.strip().split(".")
    if len(parts) != 3 or not all(parts):
        raise BadSignature("not a compact JWS (three base64url parts)")
    return parts


def _json_object(part: str) -> dict[str, object]:
    try:
        value = json.loads(_unb64url(part))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadSignature("header or payload is not JSON") from exc
    if not isinstance(value, dict):
        raise BadSignature("header or payload is not a JSON object")
    return value


def jws_header(token: str) -> dict[str, object]:
    """The (unverified) protected header of a compact JWS."""
    return _json_object(_parts(token)[0])


def verify_jws(token: str, keys: Mapping[str, Ed25519PublicKey]) -> dict[str, object]:
    """The claims of a compact JWS signed by one of `keys` (kid -> key), or
    BadSignature with the reason."""
    parts = _parts(token)
    header, claims = _json_object(parts[0]), _json_object(parts[1])
    if header.get("alg") != "EdDSA":
        raise BadSignature(f"algorithm {header.get('alg')!r} is not EdDSA")
    kid = header.get("kid")
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise BadSignature(f"signed with an unknown key id {kid!r}")
    try:
        key.verify(_unb64url(parts[2]), f"{parts[0]}.{parts[1]}".encode())
    except InvalidSignature as exc:
        raise BadSignature("the signature does not match: tampered or forged") from exc
    return claims
