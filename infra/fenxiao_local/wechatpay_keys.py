"""Key material of the local WeChat Pay stand-in: platform keys (public key mode and certificate
mode), the APIv3 key and a merchant key pair. Generated once per local stack and persisted as JSON;
the private keys are unencrypted because this is test material, never a real shop's keys."""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.x509.oid import NameOID

from fenxiao.adapters.wechatpay_crypto import PlatformKey, load_platform_key, load_private_key

JSON_VERSION = 1
_APIV3_ALPHABET = string.ascii_letters + string.digits


def generate_rsa_key(key_size: int = 2048) -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=key_size)


def private_key_pem(key: RSAPrivateKey) -> str:
    """PKCS#8, unencrypted: the form of a merchant's `apiclient_key.pem`."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def public_key_pem(key: RSAPrivateKey) -> str:
    """SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`): the form of WeChat Pay's platform public key."""
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def random_certificate_serial() -> str:
    """40 upper-case hex digits with a non-zero first digit, below 2**159 (RFC 5280: positive, 20 octets)."""
    return format(secrets.randbelow(2**159 - 2**156) + 2**156, "X")


def random_public_key_id() -> str:
    """A platform public key id in WeChat Pay's shape, `PUB_KEY_ID_` and 28 digits."""
    return f"PUB_KEY_ID_0114{secrets.randbelow(10**24):024d}"


def random_apiv3_key() -> str:
    return "".join(secrets.choice(_APIV3_ALPHABET) for _ in range(32))


def self_signed_certificate(
    key: RSAPrivateKey,
    serial_hex: str,
    *,
    common_name: str = "WeChat Pay stand-in platform certificate",
    not_before: datetime | None = None,
    valid_days: int = 5 * 365,
) -> x509.Certificate:
    """A self-signed "platform certificate" with the given serial (hex), valid from `not_before`
    (default: a day ago) for `valid_days`."""
    start = not_before or datetime.now(UTC) - timedelta(days=1)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fenxiao local"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(int(serial_hex, 16))
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=valid_days))
        .sign(key, hashes.SHA256())
    )


def certificate_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


@dataclass(frozen=True)
class StandinKeys:
    """Everything the stand-in signs and encrypts with, and what the shop configures to match.
    The two platform modes use separate key pairs, as WeChat Pay's do."""

    platform_private_key: RSAPrivateKey
    platform_public_key_id: str
    certificate_private_key: RSAPrivateKey
    platform_certificate: x509.Certificate
    apiv3_key: str
    merchant_private_key: RSAPrivateKey
    merchant_serial: str

    @classmethod
    def generate(cls) -> StandinKeys:
        certificate_key = generate_rsa_key()
        merchant_key = generate_rsa_key()
        return cls(
            platform_private_key=generate_rsa_key(),
            platform_public_key_id=random_public_key_id(),
            certificate_private_key=certificate_key,
            platform_certificate=self_signed_certificate(certificate_key, random_certificate_serial()),
            apiv3_key=random_apiv3_key(),
            merchant_private_key=merchant_key,
            merchant_serial=random_certificate_serial(),
        )

    @property
    def certificate_serial(self) -> str:
        return format(self.platform_certificate.serial_number, "X")

    def platform_public_key_pem(self) -> str:
        return public_key_pem(self.platform_private_key)

    def platform_certificate_pem(self) -> str:
        return certificate_pem(self.platform_certificate)

    def merchant_private_key_pem(self) -> str:
        return private_key_pem(self.merchant_private_key)

    def platform_keys(self) -> list[PlatformKey]:
        """The verifying side's key set, both modes (a shop in the middle of a key switch)."""
        return [
            load_platform_key(self.platform_public_key_id, self.platform_public_key_pem()),
            load_platform_key(self.certificate_serial, self.platform_certificate_pem()),
        ]

    def signer(self, serial: str) -> RSAPrivateKey:
        """The platform private key behind a serial (public key id or certificate serial)."""
        if serial == self.platform_public_key_id:
            return self.platform_private_key
        if serial == self.certificate_serial:
            return self.certificate_private_key
        raise KeyError(f"the stand-in has no platform key with serial {serial!r}")

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": JSON_VERSION,
                "platform_private_key_pem": private_key_pem(self.platform_private_key),
                "platform_public_key_id": self.platform_public_key_id,
                "certificate_private_key_pem": private_key_pem(self.certificate_private_key),
                "platform_certificate_pem": self.platform_certificate_pem(),
                "apiv3_key": self.apiv3_key,
                "merchant_private_key_pem": self.merchant_private_key_pem(),
                "merchant_serial": self.merchant_serial,
            },
            indent=2,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> StandinKeys:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != JSON_VERSION:
            raise ValueError(f"stand-in keys: expected a JSON object of version {JSON_VERSION}")
        try:
            certificate = x509.load_pem_x509_certificate(data["platform_certificate_pem"].encode("ascii"))
            keys = cls(
                platform_private_key=load_private_key(data["platform_private_key_pem"]),
                platform_public_key_id=str(data["platform_public_key_id"]),
                certificate_private_key=load_private_key(data["certificate_private_key_pem"]),
                platform_certificate=certificate,
                apiv3_key=str(data["apiv3_key"]),
                merchant_private_key=load_private_key(data["merchant_private_key_pem"]),
                merchant_serial=str(data["merchant_serial"]),
            )
        except KeyError as missing:
            raise ValueError(f"stand-in keys: missing field {missing.args[0]}") from None
        if len(keys.apiv3_key.encode("utf-8")) != 32:
            raise ValueError("stand-in keys: apiv3_key must be 32 bytes")
        certificate_key = certificate.public_key()
        if (
            not isinstance(certificate_key, RSAPublicKey)
            or certificate_key.public_numbers() != keys.certificate_private_key.public_key().public_numbers()
        ):
            raise ValueError("stand-in keys: the platform certificate is not for certificate_private_key")
        return keys
