"""Certificate serials: 12 typeable characters, Crockford base32, the last a
check character (pure, stdlib only).

A serial is 11 data characters (55 bits of a keyed hash of the certificate id,
so a redelivered `order.paid` yields the same serial and nobody without the
key can mint a plausible one) and Crockford's check symbol: the data's value
mod 37. 37 is prime, so the check catches every single-character substitution
and every swap of two adjacent characters. Crockford's check alphabet has five
extra symbols (`*~$=U`); a serial is derived until its check falls in the
plain 32 symbols, so every serial is alphanumeric and the extra symbols never
appear (a serial that would need one is malformed).

Input is forgiving as Crockford intends: case, hyphens and spaces are ignored,
`I`/`L` read as `1` and `O` as `0`.
"""

import hashlib
import hmac

__all__ = [
    "ALPHABET",
    "DATA_CHARS",
    "SERIAL_CHARS",
    "MalformedSerial",
    "check_char",
    "derive_serial",
    "format_serial",
    "parse_serial",
]

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32  # pragma: allowlist secret
_CHECK = ALPHABET + "*~$=U"
DATA_CHARS = 11
SERIAL_CHARS = DATA_CHARS + 1
_ALIASES = str.maketrans({"I": "1", "L": "1", "O": "0"})
_VALUE = {c: i for i, c in enumerate(ALPHABET)}


class MalformedSerial(ValueError):
    """Not a serial: wrong length, a character outside the alphabet, or a
    check character that does not match (a typo)."""


def _value(data: str) -> int:
    n = 0
    for c in data:
        n = n * 32 + _VALUE[c]
    return n


def check_char(data: str) -> str:
    """Crockford's check symbol of the data characters."""
    return _CHECK[_value(data) % 37]


def _encode(n: int) -> str:
    chars = []
    for _ in range(DATA_CHARS):
        chars.append(ALPHABET[n & 31])
        n >>= 5
    return "".join(reversed(chars))


def derive_serial(key: bytes, cert_id: str) -> str:
    """The serial of a certificate: deterministic for (key, id), 55 bits."""
    for attempt in range(256):
        mac = hmac.new(key, f"{cert_id}\x00{attempt}".encode(), hashlib.sha256).digest()
        data = _encode(int.from_bytes(mac[:8], "big") >> (64 - 5 * DATA_CHARS))
        check = check_char(data)
        if check in _VALUE:  # 32 in 37 attempts on average
            return data + check
    raise AssertionError("no serial with a plain check character")  # p = (5/37)^256


def parse_serial(text: str) -> str:
    """The canonical serial (12 upper-case characters), or MalformedSerial."""
    s = text.replace("-", "").replace(" ", "").upper().translate(_ALIASES)
    if len(s) != SERIAL_CHARS:
        raise MalformedSerial(f"a serial has {SERIAL_CHARS} characters, not {len(s)}")
    bad = sorted({c for c in s if c not in _VALUE})
    if bad:
        raise MalformedSerial(f"characters outside Crockford base32: {''.join(bad)}")
    if check_char(s[:DATA_CHARS]) != s[DATA_CHARS]:
        raise MalformedSerial("the check character does not match: a typo?")
    return s


def format_serial(serial: str) -> str:
    """For people: XXXX-XXXX-XXXX."""
    return "-".join(serial[i : i + 4] for i in range(0, len(serial), 4))
