"""Authenticity certificates against real Kafka and the real store, through a
running ip process: exactly one certificate per licensed unit (also when
`order.paid` is redelivered), a partial refund revokes exactly its units,
public verification of valid, revoked, unknown, malformed and forged serials,
the CLI, and a key rotation that keeps old certificates verifiable."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ip.cert_keys import generate_pem, load_private_key
from ip.cli import main as ip_cli
from ip.cli import verify_signed
from ip.serials import derive_serial, format_serial
from ip.signing import BadSignature, KeyRing, b64url, raw_public
from servicekit.auth import Principal, Role
from tests.ip.conftest import Feed, Ip, _tokens, _wait_ready, envelope, order_paid, token
from tests.support import eventually, unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]


async def _world(ip: Ip) -> tuple[str, str, str, str]:
    museum, licensee = unique("museum"), unique("licensee")
    await ip.museum(museum)
    relic = await ip.relic(museum)
    license_id = await ip.license(museum, licensee, relic)
    return museum, licensee, relic, license_id


async def _certs(ip: Ip, order_id: str, count: int, revoked: int = 0) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    async def ready() -> bool:
        response = await ip.get(f"/orders/{order_id}/certificates")
        if response.status_code != 200:
            return False
        found[:] = response.json()
        return len(found) == count and sum(c["status"] == "revoked" for c in found) == revoked

    await eventually(ready, timeout=120, what=f"{count} certificates, {revoked} revoked")
    return found


async def _public(ip: Ip, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=ip.process.url, timeout=10) as c:
        return await c.get(path)  # no token


async def test_three_units_three_certificates_and_a_refund_revokes_exactly_one(ip: Ip) -> None:
    museum, licensee, relic, license_id = await _world(ip)
    order_id, paid = await ip.pay(
        license_id, licensee, relic, museum, quantity=3, unit_price_fen=2500
    )
    certs = await _certs(ip, order_id, 3)
    serials = sorted(c["serial"] for c in certs)
    assert len(set(serials)) == 3
    assert sorted(c["unit"] for c in certs) == [1, 2, 3]

    # redelivered: the same envelope, and a copy under a new event id
    await ip.feed.send(paid, envelope(order_paid(
        order_id, license_id, licensee, relic, museum,
        quantity=3, unit_price_fen=2500, paid_at=paid.time,
    )))  # fmt: skip
    # a refund of the same order (same key, so after the copies): 1 unit
    await ip.refund(order_id, license_id, licensee, relic, museum, quantity=1, amount_fen=2500)
    certs = await _certs(ip, order_id, 3, revoked=1)
    assert sorted(c["serial"] for c in certs) == serials  # same serials, no new ones
    assert [c["unit"] for c in certs if c["status"] == "revoked"] == [3]  # the highest unit

    # public verification: valid, revoked
    by_unit = {c["unit"]: c for c in certs}
    valid = await _public(ip, f"/certificates/{format_serial(by_unit[1]['serial']).lower()}")
    assert valid.status_code == 200, valid.text
    body = valid.json()
    assert body["status"] == "valid"
    assert (body["museum_id"], body["licensee_id"], body["license_id"]) == (
        museum,
        licensee,
        license_id,
    )
    assert body["relic_ids"] == [relic]
    assert "order_id" not in body
    assert "customer_id" not in body
    revoked = await _public(ip, f"/certificates/{by_unit[3]['serial']}")
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked"

    # the licence revoked later: units sold while it was active stay valid
    revoke = await ip.post(
        f"/licenses/{license_id}/revoke",
        {"reason": "breach"},
        token(Role.MUSEUM, museum_id=museum),
    )
    assert revoke.status_code == 200, revoke.text
    still = await _public(ip, f"/certificates/{by_unit[1]['serial']}")
    assert still.json()["status"] == "valid"


def _tourist(subject: str) -> str:
    return _tokens.mint(Principal(subject=subject, role=Role.TOURIST))


async def test_the_tourist_who_paid_lists_the_orders_certificates_and_no_one_else(
    ip: Ip,
) -> None:
    museum, licensee, relic, license_id = await _world(ip)
    order_id, _ = await ip.pay(license_id, licensee, relic, museum, quantity=2, unit_price_fen=700)
    certs = await _certs(ip, order_id, 2)
    mine = await ip.get(f"/orders/{order_id}/certificates", _tourist("tourist@example.com"))
    assert mine.status_code == 200, mine.text
    assert sorted(c["serial"] for c in mine.json()) == sorted(c["serial"] for c in certs)
    other = await ip.get(f"/orders/{order_id}/certificates", _tourist("someone@example.com"))
    assert other.status_code == 404
    assert other.headers["content-type"].startswith("application/problem+json")
    # what ip keeps of the buyer is a digest, never the subject itself
    body = json.dumps(mine.json())
    assert "tourist@example.com" not in body


async def test_unknown_malformed_and_forged_serials(ip: Ip, tmp_path: Path) -> None:
    museum, licensee, relic, license_id = await _world(ip)
    order_id, _ = await ip.pay(license_id, licensee, relic, museum, quantity=1, unit_price_fen=900)
    serial = (await _certs(ip, order_id, 1))[0]["serial"]

    unknown = await _public(ip, f"/certificates/{derive_serial(b'not-ours', 'cert:x:y:1')}")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
    assert unknown.json()["status"] == 404
    typo = serial[:3] + ("0" if serial[3] != "0" else "1") + serial[4:]
    for bad in (typo, serial[:-1], serial[:-1] + "U", "<script>"):
        malformed = await _public(ip, f"/certificates/{bad}")
        assert malformed.status_code == 422, bad
        assert malformed.headers["content-type"].startswith("application/problem+json")

    signed = (await _public(ip, f"/certificates/{serial}/signed")).json()
    jwks = (await _public(ip, "/.well-known/jwks.json")).json()
    assert verify_signed(json.dumps(signed), jwks, serial)["license_id"] == license_id
    head, payload, sig = signed["jws"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["museum_id"] = "another-museum"
    forged = b64url(json.dumps(claims, sort_keys=True, separators=(",", ":")).encode())
    with pytest.raises(BadSignature, match="does not match"):
        verify_signed(f"{head}.{forged}.{sig}", jwks)

    # truncated: a part missing, or a signature cut short
    with pytest.raises(BadSignature, match="not a compact JWS"):
        verify_signed(f"{head}.{payload}", jwks)
    with pytest.raises(BadSignature, match="does not match"):
        verify_signed(f"{head}.{payload}.{sig[:40]}", jwks)
    # re-signed by someone else: under our key id it does not match; under
    # their own key id it names a key we never published; `none` is refused
    intruder = KeyRing(Ed25519PrivateKey.generate())
    ours = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    with pytest.raises(BadSignature, match="does not match"):
        verify_signed(_resign(intruder, {**ours}, claims), jwks)
    with pytest.raises(BadSignature, match="unknown key id"):
        verify_signed(intruder.sign(claims), jwks)
    with pytest.raises(BadSignature, match="not EdDSA"):
        verify_signed(_resign(intruder, {**ours, "alg": "none"}, claims), jwks)
    # a genuine certificate offered for another serial
    with pytest.raises(BadSignature, match="signed for serial"):
        verify_signed(json.dumps(signed), jwks, derive_serial(b"x", "cert:o:l:1"))

    # the CLI: online by serial, offline from files, and a forged file
    assert ip_cli(["verify", serial, "--url", ip.process.url]) == 0
    good, bad, keys = tmp_path / "good.json", tmp_path / "bad.jws", tmp_path / "jwks.json"
    good.write_text(json.dumps(signed))
    bad.write_text(f"{head}.{forged}.{sig}")
    keys.write_text(json.dumps(jwks))
    assert ip_cli(["verify", str(good), "--jwks", str(keys)]) == 0
    assert ip_cli(["verify", str(bad), "--jwks", str(keys)]) == 1
    assert ip_cli(["verify", typo, "--url", ip.process.url]) == 2


def _resign(ring: KeyRing, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A JWS with the given header, signed by `ring`'s key (an attacker's)."""
    compact = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    body = json.dumps(claims, sort_keys=True, separators=(",", ":")).encode()
    signing_input = f"{b64url(compact)}.{b64url(body)}"
    return f"{signing_input}.{b64url(ring.current.sign(signing_input.encode()))}"


async def test_key_rotation_keeps_old_certificates_verifiable(infra: Any, run_service: Any) -> None:
    old_pem, new_pem = generate_pem(), generate_pem()
    process = run_service(
        "ip", IP_CERT_SIGNING_KEY=old_pem, IP_CERT_SERIAL_KEY="k1", IP_CERT_VERIFY_RATE="6/minute"
    )
    _wait_ready(process)
    ip = Ip(process, Feed(infra.kafka_bootstrap))
    museum, licensee, relic, license_id = await _world(ip)
    old_order, _ = await ip.pay(license_id, licensee, relic, museum, quantity=1, unit_price_fen=500)
    old_serial = (await _certs(ip, old_order, 1))[0]["serial"]
    old_signed = (await _public(ip, f"/certificates/{old_serial}/signed")).json()

    # rotate: a new signing key, the old public key retired but still published
    process.stop()
    old_public = b64url(raw_public(load_private_key(old_pem).public_key()))
    process.env.update(IP_CERT_SIGNING_KEY=new_pem, IP_CERT_RETIRED_KEYS=json.dumps([old_public]))
    process.start()
    _wait_ready(process)
    new_order, _ = await ip.pay(license_id, licensee, relic, museum, quantity=1, unit_price_fen=500)
    new_serial = (await _certs(ip, new_order, 1))[0]["serial"]
    jwks = (await _public(ip, "/.well-known/jwks.json")).json()
    assert len(jwks["keys"]) == 2
    assert verify_signed(json.dumps(old_signed), jwks, old_serial)["serial"] == old_serial
    new_signed = (await _public(ip, f"/certificates/{new_serial}/signed")).json()
    assert new_signed["kid"] == jwks["keys"][0]["kid"] != old_signed["kid"]
    assert verify_signed(new_signed["jws"], jwks, new_serial)["serial"] == new_serial

    # rate-limited per client: 429 problem+json with Retry-After
    statuses = [(await _public(ip, f"/certificates/{old_serial}")).status_code for _ in range(8)]
    assert 429 in statuses
    limited = await _public(ip, f"/certificates/{old_serial}")
    assert limited.status_code == 429
    assert "retry-after" in limited.headers
