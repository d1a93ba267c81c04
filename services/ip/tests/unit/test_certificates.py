"""Certificates without infrastructure: the serial codec, signatures and key
rotation, the issue/revoke fold and the CLI's offline check."""

import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.orders import OrderLine, OrderPaid, OrderRefunded, RefundLine
from ip.certificates import Certificate, OrderCerts, cert_id, claims_of, fold_certificates
from ip.cli import verify_signed
from ip.serials import (
    ALPHABET,
    SERIAL_CHARS,
    MalformedSerial,
    derive_serial,
    format_serial,
    parse_serial,
)
from ip.signing import BadSignature, KeyRing, b64url, thumbprint, verify_jws

KEY = b"serial-key-for-tests"
NOW = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)

# --- serials ---------------------------------------------------------------------


def test_a_serial_is_12_crockford_characters_and_deterministic() -> None:
    serials = {derive_serial(KEY, cert_id("ord-1", "line-1", u)) for u in range(1, 2001)}
    assert len(serials) == 2000
    for s in serials:
        assert len(s) == SERIAL_CHARS
        assert set(s) <= set(ALPHABET)
        assert parse_serial(s) == s
    assert derive_serial(KEY, "cert:o:l:1") == derive_serial(KEY, "cert:o:l:1")
    assert derive_serial(KEY, "cert:o:l:1") != derive_serial(b"other", "cert:o:l:1")


def test_the_check_character_catches_every_single_typo() -> None:
    for n in range(50):
        serial = derive_serial(KEY, f"cert:o:l:{n}")
        for i in range(SERIAL_CHARS):
            for c in ALPHABET:
                if c != serial[i]:
                    typo = serial[:i] + c + serial[i + 1 :]
                    with pytest.raises(MalformedSerial):
                        parse_serial(typo)


def test_the_check_character_catches_adjacent_swaps() -> None:
    for n in range(50):
        serial = derive_serial(KEY, f"cert:o:l:{n}")
        for i in range(SERIAL_CHARS - 1):
            if serial[i] != serial[i + 1]:
                swapped = serial[:i] + serial[i + 1] + serial[i] + serial[i + 2 :]
                with pytest.raises(MalformedSerial):
                    parse_serial(swapped)


def test_input_is_forgiving_but_strict_on_length_and_alphabet() -> None:
    serial = derive_serial(KEY, "cert:o:l:1")
    assert parse_serial(format_serial(serial).lower()) == serial
    assert parse_serial(serial.replace("1", "l").replace("0", "O")) == serial
    for bad in ("", serial[:-1], serial + "0", serial[:-1] + "*", "U" + serial[1:], "ÄÄ"):
        with pytest.raises(MalformedSerial):
            parse_serial(bad)


# --- signing -----------------------------------------------------------------------


def _cert(serial: str = "7K3MQ9XD2F4H", unit: int = 1) -> Certificate:
    return Certificate(
        cert_id=cert_id("ord-1", "line-1", unit),
        serial=serial,
        order_id="ord-1",
        line_id="line-1",
        unit=unit,
        units=3,
        product_id="prod-1",
        sku="SKU-1",
        relic_ids=("relic-1",),
        museum_id="three-gorges",
        licensee_id="acme",
        license_id="lic-1",
        sold_at=NOW,
    )


def test_a_signature_verifies_and_names_its_key() -> None:
    ring = KeyRing(Ed25519PrivateKey.generate())
    token = ring.sign(claims_of(_cert()))
    assert token == ring.sign(claims_of(_cert()))  # deterministic: redelivery-safe
    claims = verify_jws(token, ring.public_keys())
    assert claims["serial"] == "7K3MQ9XD2F4H"
    assert claims["sold_on"] == "2026-03-01"
    assert "customer_id" not in claims
    assert "order_id" not in claims
    jwk = ring.jwks()["keys"][0]
    assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("OKP", "Ed25519", "EdDSA")
    assert jwk["kid"] == ring.kid == thumbprint(ring.current.public_key())


def test_tampered_resigned_and_truncated_tokens_fail_with_a_reason() -> None:
    ring = KeyRing(Ed25519PrivateKey.generate())
    token = ring.sign(claims_of(_cert()))
    head, payload, sig = token.split(".")
    other = json.loads(json.dumps(claims_of(_cert())))
    other["museum_id"] = "another-museum"
    forged_payload = b64url(json.dumps(other, sort_keys=True, separators=(",", ":")).encode())
    flipped = sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB")
    cases = {
        f"{head}.{forged_payload}.{sig}": "does not match",
        f"{head}.{payload}.{flipped}": "does not match",
        f"{head}.{payload}": "three",
        KeyRing(Ed25519PrivateKey.generate()).sign(other): "unknown key",
    }
    for bad, reason in cases.items():
        with pytest.raises(BadSignature, match=reason):
            verify_jws(bad, ring.public_keys())


def test_after_a_rotation_old_certificates_still_verify() -> None:
    old = KeyRing(Ed25519PrivateKey.generate())
    token = old.sign(claims_of(_cert()))
    new = KeyRing(Ed25519PrivateKey.generate(), retired=(old.current.public_key(),))
    assert [k["kid"] for k in new.jwks()["keys"]] == [new.kid, old.kid]
    assert verify_signed(token, new.jwks(), "7K3MQ9XD2F4H")["serial"] == "7K3MQ9XD2F4H"
    with pytest.raises(BadSignature, match="unknown key"):
        verify_signed(token, KeyRing(Ed25519PrivateKey.generate()).jwks())
    with pytest.raises(BadSignature, match="not ZZZ"):
        verify_signed(json.dumps({"jws": token}), new.jwks(), "ZZZ")


# --- the fold --------------------------------------------------------------------


def _line(quantity: int, line_id: str = "line-1", license_id: str | None = "lic-1") -> OrderLine:
    return OrderLine(
        line_id=line_id,
        product_id="prod-1",
        sku="SKU-1",
        quantity=quantity,
        unit_price_fen=1000,
        line_total_fen=1000 * quantity,
        license_id=license_id,
        licensee_id="acme" if license_id else None,
        relic_ids=["relic-1"],
        museum_id="three-gorges",
    )


def _paid(*lines: OrderLine) -> OrderPaid:
    total = sum(x.line_total_fen for x in lines)
    return OrderPaid(
        order_id="ord-1",
        payment_id="pay-1",
        customer_id="tourist@example.com",
        lines=list(lines),
        total_fen=total,
        paid_at=NOW,
    )


def _refund(refund_id: str, quantity: int) -> OrderRefunded:
    line = RefundLine(
        line_id="line-1",
        product_id="prod-1",
        sku="SKU-1",
        quantity=quantity,
        amount_fen=1000 * quantity,
        license_id="lic-1",
        licensee_id="acme",
        relic_ids=["relic-1"],
        museum_id="three-gorges",
    )
    return OrderRefunded(
        order_id="ord-1",
        refund_id=refund_id,
        lines=[line],
        amount_fen=1000 * quantity,
        restock=True,
        refunded_at=NOW,
    )


def _make(e: OrderPaid, line: OrderLine, unit: int) -> Certificate:
    return _cert(derive_serial(KEY, cert_id(e.order_id, line.line_id, unit)), unit)


def test_one_certificate_per_licensed_unit_once_per_batch() -> None:
    paid = _paid(_line(3), _line(2, "line-2", license_id=None), _line(1, "line-3", "lic-x"))
    out = fold_certificates([paid, paid], known={}, licensed=lambda lic: lic == "lic-1", make=_make)
    assert [c.cert_id for c in out.issued] == [cert_id("ord-1", "line-1", u) for u in (1, 2, 3)]
    assert [o.lines for o in out.orders] == [{"line-1": 3}]


def test_refunds_revoke_the_highest_units_and_a_redelivery_the_same_ones() -> None:
    first = fold_certificates(
        [_paid(_line(3)), _refund("rfd-1", 1)], known={}, licensed=bool, make=_make
    )
    assert [r.units for r in first.revoke] == [(3,)]
    doc = first.orders[0]
    again = fold_certificates(
        [_refund("rfd-1", 1), _refund("rfd-2", 5)],
        known={"ord-1": doc},
        licensed=bool,
        make=_make,
    )
    assert [r.units for r in again.revoke] == [(3,), (2, 1)]  # capped at what is left
    assert [r.refund_id for r in again.recorded] == ["rfd-2"]
    none = fold_certificates([_refund("rfd-3", 1)], known={}, licensed=bool, make=_make)
    assert none.revoke == []
    assert none.recorded == []
    assert OrderCerts("ord-1").revoked_units("line-1") == set()
