"""The certificate keys from settings: the Ed25519 signing key (and retired
public keys) and the serials' hash key.

Outside production an unset key is generated into `cert_key_dir` (default
`.local/ip`, git-ignored) on first run and reused on every later run, so a
restart keeps signing with the same key and deriving the same serials. The
file is created atomically (written aside, then hard-linked into place), so
processes starting together agree on one key.
"""

import base64
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from ip.config import Settings
from ip.signing import KeyRing

__all__ = ["CertKeys", "generate_pem", "keys_from_settings", "load_public_key", "private_pem"]


class CertKeys:
    def __init__(self, ring: KeyRing, serial_key: bytes) -> None:
        self.ring = ring
        self.serial_key = serial_key


def private_pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()


def generate_pem() -> str:
    return private_pem(Ed25519PrivateKey.generate())


def load_private_key(pem: str) -> Ed25519PrivateKey:
    key = load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the certificate signing key must be an Ed25519 key")
    return key


def load_public_key(text: str) -> Ed25519PublicKey:
    """A PEM public key, or the 32 raw bytes base64url (a JWK's `x`)."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("a retired certificate key must be an Ed25519 key")
        return key
    return Ed25519PublicKey.from_public_bytes(
        base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    )


def _dev_secret(path: Path, make: str) -> str:
    """The file's content, created with `make` if it does not exist yet."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        aside = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(make)
        try:
            os.link(aside, path)  # fails if a rival made it first: theirs wins
        except FileExistsError:
            pass
        finally:
            aside.unlink()
    return path.read_text()


def keys_from_settings(settings: Settings) -> CertKeys:
    directory = Path(settings.cert_key_dir)
    if settings.cert_signing_key is not None:
        pem = settings.cert_signing_key.get_secret_value()
    else:
        pem = _dev_secret(directory / "cert-signing-key.pem", generate_pem())
    if settings.cert_serial_key is not None:
        serial_key = settings.cert_serial_key.get_secret_value()
    else:
        serial_key = _dev_secret(directory / "cert-serial-key.txt", secrets.token_urlsafe(32))
    retired = tuple(load_public_key(k) for k in settings.cert_retired_keys)
    return CertKeys(KeyRing(load_private_key(pem), retired), serial_key.strip().encode())
