"""PUT settings/wechatpay with a key of another algorithm than RSA (SPEC §10): an SM2 key (WeChat Pay's 国密
keys; `cryptography` cannot load the curve and raises UnsupportedAlgorithm, not ValueError) or an EC key is
400 naming the field and saying that only RSA keys are supported; nothing is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support import wechatpay as wx
from tests.support.app import ShopCaller

pytestmark = pytest.mark.api

# The GM/T 0003.5 (GB/T 32918.5) example key pair on the recommended curve sm2p256v1.
SM2_PRIVATE = int("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8", 16)
SM2_X = bytes.fromhex("09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020")
SM2_Y = bytes.fromhex("CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13")
P256_OID = bytes.fromhex("06082A8648CE3D030107")  # 1.2.840.10045.3.1.7 (prime256v1)
SM2_OID = bytes.fromhex("06082A811CCF5501822D")  # 1.2.156.10197.1.301 (sm2p256v1), the same length


def _p256(private: int = SM2_PRIVATE) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(private, ec.SECP256R1())


def _as_sm2(der: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
    """The P-256 structure ``der`` of ``key`` made an SM2 one: curve OID and public point replaced in place
    (equal lengths, so the DER stays well-formed), the point being the GM/T example's."""
    numbers = key.public_key().public_numbers()
    point = b"\x04" + numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")
    assert P256_OID in der and point in der
    return der.replace(P256_OID, SM2_OID).replace(point, b"\x04" + SM2_X + SM2_Y)


def _pem(kind: str, der: bytes) -> str:
    import base64
    import textwrap

    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n"


def sm2_public_key_pem() -> str:
    key = _p256()
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return _pem("PUBLIC KEY", _as_sm2(der, key))


def sm2_private_key_pem() -> str:
    key = _p256()
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return _pem("PRIVATE KEY", _as_sm2(der, key))


def _certificate(key: ec.EllipticCurvePrivateKey, serial: int) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA")])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )


def sm2_certificate_pem(serial: int) -> str:
    key = _p256()
    return _pem(
        "CERTIFICATE", _as_sm2(_certificate(key, serial).public_bytes(serialization.Encoding.DER), key)
    )


def ec_public_key_pem() -> str:
    return (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def ec_private_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def ec_certificate_pem(serial: int) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return _certificate(key, serial).public_bytes(serialization.Encoding.PEM).decode()


CERT_SERIAL = 0x5157F09D1E8B0A3C


def _platform(serial: str, pem: str) -> dict[str, Any]:
    return {
        "platform_public_keys": [
            wx.wechatpay_settings()["platform_public_keys"][0],
            {"serial": serial, "pem": pem},
        ]
    }


BAD_KEYS = {
    "sm2 platform public key": (
        _platform("PUB_KEY_ID_SM2", sm2_public_key_pem()),
        "platform_public_keys[1].pem",
    ),
    "sm2 platform certificate": (
        _platform(format(CERT_SERIAL, "X"), sm2_certificate_pem(CERT_SERIAL)),
        "platform_public_keys[1].pem",
    ),
    "sm2 merchant key": ({"merchant_private_key_pem": sm2_private_key_pem()}, "merchant_private_key_pem"),
    "ec platform public key": (
        _platform("PUB_KEY_ID_EC", ec_public_key_pem()),
        "platform_public_keys[1].pem",
    ),
    "ec platform certificate": (
        _platform(format(CERT_SERIAL, "X"), ec_certificate_pem(CERT_SERIAL)),
        "platform_public_keys[1].pem",
    ),
    "ec merchant key": ({"merchant_private_key_pem": ec_private_key_pem()}, "merchant_private_key_pem"),
}


def test_the_sm2_test_data_is_what_cryptography_cannot_load() -> None:
    from cryptography.exceptions import UnsupportedAlgorithm

    for load in (
        lambda: serialization.load_pem_public_key(sm2_public_key_pem().encode()),
        lambda: serialization.load_pem_private_key(sm2_private_key_pem().encode(), password=None),
        lambda: x509.load_pem_x509_certificate(sm2_certificate_pem(CERT_SERIAL).encode()).public_key(),
    ):
        with pytest.raises(UnsupportedAlgorithm):
            load()


@pytest.mark.parametrize("case", sorted(BAD_KEYS))
def test_a_key_other_than_rsa_is_400_naming_the_field_and_stores_nothing(shop: ShopCaller, case: str) -> None:
    path = shop.path("/settings/wechatpay")
    assert shop.put(path, wx.wechatpay_settings()).status == 200
    before = shop.get(path).body
    over, field = BAD_KEYS[case]
    answer = shop.put(path, {**wx.wechatpay_settings(), **over})
    assert answer.status == 400, (case, answer)
    assert answer.error["field"] == field, (case, answer.error)
    assert field in answer.error["message"] and "only RSA keys are supported" in answer.error["message"], (
        case,
        answer.error,
    )
    assert shop.get(path).body == before
