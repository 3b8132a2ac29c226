"""WeChat Pay API v3 cryptography on `cryptography` primitives: signatures and AEAD_AES_256_GCM.

Both sides of the protocol live here, so that the adapter and the local stand-in cannot drift apart:

- merchant side (the shop's adapter): `build_authorization` signs a request; `verify_response` and
  `verify_notification` check WeChat Pay's signatures; `decrypt_resource` opens a notification's
  `resource`.
- WeChat Pay side (the stand-in and tests): `sign_message`, `notification_headers`,
  `encrypt_resource`, `verify_authorization`.

Signed strings (every line ends in "\\n", the last one included):
- request:  "{METHOD}\\n{path?query}\\n{timestamp}\\n{nonce}\\n{body}\\n", signed by the merchant key;
- response and notification: "{timestamp}\\n{nonce}\\n{body}\\n", signed by the platform key.
Both are RSASSA-PKCS1-v1_5 with SHA-256, base64 encoded. The body is the exact bytes on the wire.

Decisions (the spec is silent):
- a non-numeric `Wechatpay-Timestamp` is a `BadSignature` (a malformed signed message), not a
  `StaleTimestamp`, which is kept for well-formed timestamps outside the allowed skew;
- the skew is inclusive: exactly `max_skew_s` away is accepted, one second more is stale;
- a header present but empty counts as missing;
- serials match case-insensitively and, for hexadecimal certificate serials, regardless of leading
  zeros (WeChat Pay prints certificate serials as upper-case hex without them);
- a platform certificate's validity dates are not checked: the shop's configured key set is the
  trust anchor, and a key is retired by removing it from the set;
- an Authorization header's parameters may come in any order (WeChat Pay's docs say so); unknown
  parameters are ignored, duplicated ones rejected. A missing header is `MissingHeader`, a
  malformed or incomplete one `BadSignature`, a valid signature for another mchid `BadSignature`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
AEAD_ALGORITHM = "AEAD_AES_256_GCM"
PROBE_SIGNATURE_PREFIX = "WECHATPAY/SIGNTEST/"
DEFAULT_MAX_SKEW_S = 300
APIV3_KEY_BYTES = 32
MIN_RSA_KEY_BITS = 2048
ONLY_RSA = "must be an RSA key: only RSA keys are supported"

HEADER_TIMESTAMP = "Wechatpay-Timestamp"
HEADER_NONCE = "Wechatpay-Nonce"
HEADER_SIGNATURE = "Wechatpay-Signature"
HEADER_SERIAL = "Wechatpay-Serial"
HEADER_SIGNATURE_TYPE = "Wechatpay-Signature-Type"

_AUTH_PARAMS = ("mchid", "nonce_str", "signature", "timestamp", "serial_no")
_AUTH_PARAM = re.compile(r'\s*([A-Za-z_]+)="([^"]*)"\s*')
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HEX = re.compile(r"[0-9A-F]+")
_METHOD = re.compile(r"[A-Z]+")


class WechatPayCryptoError(Exception):
    """A WeChat Pay message failed a cryptographic check. Messages name the check, never key material."""


class MissingHeader(WechatPayCryptoError):
    """A required signature header is absent or empty."""


class BadSignature(WechatPayCryptoError):
    """The signature is malformed, of an unsupported type, a probe, or does not verify."""


class StaleTimestamp(WechatPayCryptoError):
    """The signed timestamp is further from now than the allowed skew, in either direction."""


class UnknownSerial(WechatPayCryptoError):
    """No configured key has the serial the message names."""

    def __init__(self, message: str, serial: str) -> None:
        super().__init__(message)
        self.serial = serial


class Undecryptable(WechatPayCryptoError):
    """An encrypted resource cannot be opened: wrong algorithm, key, nonce, data or tag."""


@dataclass(frozen=True)
class PlatformKey:
    """A WeChat Pay platform key: a public key with its id (`PUB_KEY_ID_...`) or a platform
    certificate's key with the certificate serial (upper-case hex)."""

    serial: str
    public_key: RSAPublicKey


# --- keys -----------------------------------------------------------------------------------------


def load_platform_key(serial: str, pem: str) -> PlatformKey:
    """Loads a platform key from a PEM public key (public key mode, serial as given, e.g.
    `PUB_KEY_ID_...`) or a PEM X.509 certificate (certificate mode: the serial is the certificate's,
    in upper-case hex; a given serial must match it, an empty one is taken from the certificate)."""
    if not isinstance(pem, str):
        raise ValueError("platform key must be PEM text")
    text = pem.strip()
    if "-----BEGIN CERTIFICATE-----" in text:
        from cryptography import x509  # ~10 ms of imports: only certificates need it

        try:
            certificate = x509.load_pem_x509_certificate(text.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise ValueError("platform certificate is not a valid PEM X.509 certificate") from None
        cert_serial = format(certificate.serial_number, "X")
        try:
            certificate_key = certificate.public_key()
        except UnsupportedAlgorithm:  # an SM2 (国密) certificate, for one
            raise ValueError(f"platform certificate key {ONLY_RSA}") from None
        if serial.strip() and _serial_key(serial) != _serial_key(cert_serial):
            raise ValueError(
                f"platform certificate serial {cert_serial} does not match the configured serial {serial!r}"
            )
        return PlatformKey(serial=cert_serial, public_key=_rsa_public(certificate_key, "platform"))
    if "-----BEGIN PUBLIC KEY-----" in text or "-----BEGIN RSA PUBLIC KEY-----" in text:
        if not serial.strip():
            raise ValueError("platform public key needs its id (PUB_KEY_ID_...)")
        try:
            public_key = serialization.load_pem_public_key(text.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise ValueError("platform public key is not a valid PEM public key") from None
        except UnsupportedAlgorithm:
            raise ValueError(f"platform public key {ONLY_RSA}") from None
        return PlatformKey(serial=serial.strip(), public_key=_rsa_public(public_key, "platform"))
    if "PRIVATE KEY-----" in text:
        raise ValueError("platform key must be public: got a PEM private key")
    raise ValueError(
        "platform key must be a PEM public key (-----BEGIN PUBLIC KEY-----) "
        "or a PEM X.509 certificate (-----BEGIN CERTIFICATE-----)"
    )


def public_key_pem(key: PlatformKey) -> str:
    """The key alone as a PEM public key (SubjectPublicKeyInfo): with its serial, ``load_platform_key`` reads
    back the same key without parsing the certificate it came from."""
    pem = key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode("ascii")


def load_private_key(pem: str) -> RSAPrivateKey:
    """Loads an unencrypted RSA private key (PKCS#8 `BEGIN PRIVATE KEY` or PKCS#1 `BEGIN RSA
    PRIVATE KEY`), at least 2048 bits."""
    if not isinstance(pem, str) or "PRIVATE KEY-----" not in pem:
        raise ValueError("merchant private key must be a PEM private key (-----BEGIN PRIVATE KEY-----)")
    try:
        key = serialization.load_pem_private_key(pem.strip().encode("ascii"), password=None)
    except TypeError:
        raise ValueError("merchant private key is encrypted; an unencrypted PEM is expected") from None
    except (ValueError, UnicodeEncodeError):
        raise ValueError("merchant private key is not a valid PEM private key") from None
    except UnsupportedAlgorithm:  # an SM2 (国密) key, for one: not a ValueError
        raise ValueError(f"merchant private key {ONLY_RSA}") from None
    if not isinstance(key, RSAPrivateKey):
        raise ValueError(f"merchant private key {ONLY_RSA}")
    if key.key_size < MIN_RSA_KEY_BITS:
        raise ValueError(f"merchant private key must be at least {MIN_RSA_KEY_BITS} bits")
    return key


def _rsa_public(key: Any, whose: str) -> RSAPublicKey:
    if not isinstance(key, RSAPublicKey):
        raise ValueError(f"{whose} key {ONLY_RSA}")
    if key.key_size < MIN_RSA_KEY_BITS:
        raise ValueError(f"{whose} key must be at least {MIN_RSA_KEY_BITS} bits")
    return key


def _serial_key(serial: str) -> str:
    """Lookup form of a serial: upper case; hex certificate serials without leading zeros."""
    key = serial.strip().upper()
    if _HEX.fullmatch(key):
        return key.lstrip("0") or "0"
    return key


def _platform_key_index(keys: Mapping[str, PlatformKey] | Sequence[PlatformKey]) -> dict[str, RSAPublicKey]:
    if isinstance(keys, Mapping):
        for name, key in keys.items():
            if _serial_key(name) != _serial_key(key.serial):
                raise ValueError(f"key set entry {name!r} holds the key of serial {key.serial!r}")
    values: Iterable[PlatformKey] = keys.values() if isinstance(keys, Mapping) else keys
    return {_serial_key(key.serial): key.public_key for key in values}


# --- signing --------------------------------------------------------------------------------------


def _signed_string(*lines: bytes) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def _require_bytes(body: bytes) -> bytes:
    # The signature covers the bytes on the wire; a str here means someone re-serialised the body.
    if not isinstance(body, bytes | bytearray | memoryview):
        raise TypeError("body must be the raw bytes as received")
    return bytes(body)


def _sign(private_key: RSAPrivateKey, message: bytes) -> str:
    if not isinstance(private_key, RSAPrivateKey):
        raise TypeError("signing needs an RSA private key")
    signature = private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def _verify(public_key: RSAPublicKey, message: bytes, signature_b64: str) -> None:
    if signature_b64.startswith(PROBE_SIGNATURE_PREFIX):
        # WeChat Pay's signature probes: the merchant must reject them.
        raise BadSignature("signature probe (WECHATPAY/SIGNTEST/) rejected")
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        raise BadSignature("signature is not valid base64") from None
    try:
        public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        raise BadSignature("signature does not verify") from None


def _check_header_value(name: str, value: str) -> str:
    if not value or any(c in value for c in '",\r\n'):
        raise ValueError(f"{name} must be non-empty, without quotes, commas or line breaks")
    return value


def sign_message(private_key: RSAPrivateKey, timestamp: str, nonce: str, body: bytes) -> str:
    """WeChat Pay's signature of an answer or notification: base64 RSA-SHA256 over
    "{timestamp}\\n{nonce}\\n{body}\\n"."""
    message = _signed_string(str(timestamp).encode("ascii"), nonce.encode("utf-8"), _require_bytes(body))
    return _sign(private_key, message)


def notification_headers(
    private_key: RSAPrivateKey, serial: str, body: bytes, timestamp: int, nonce: str
) -> dict[str, str]:
    """The signature headers WeChat Pay sends with an answer or a notification."""
    return {
        HEADER_TIMESTAMP: str(int(timestamp)),
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: sign_message(private_key, str(int(timestamp)), nonce, body),
        HEADER_SERIAL: serial,
        HEADER_SIGNATURE_TYPE: SIGNATURE_TYPE,
    }


def build_authorization(
    method: str,
    url_path_with_query: str,
    body: bytes | str,
    mchid: str,
    merchant_serial: str,
    private_key: RSAPrivateKey,
    timestamp: int,
    nonce: str,
) -> str:
    """The merchant's `Authorization` header for a WeChat Pay API v3 request, in the form of WeChat
    Pay's docs: `WECHATPAY2-SHA256-RSA2048 mchid="..",nonce_str="..",signature="..",timestamp="..",
    serial_no=".."`. The path is the URL without scheme and host, with its query; body empty for GET."""
    verb = method.upper()
    if not _METHOD.fullmatch(verb):
        raise ValueError("method must be an HTTP method name")
    if not url_path_with_query.startswith("/") or any(c.isspace() for c in url_path_with_query):
        raise ValueError("url_path_with_query must be the absolute path (and query), e.g. /v3/...")
    for name, value in (("mchid", mchid), ("merchant_serial", merchant_serial), ("nonce", nonce)):
        _check_header_value(name, value)
    stamp = str(int(timestamp))
    message = _signed_string(
        verb.encode("ascii"),
        url_path_with_query.encode("utf-8"),
        stamp.encode("ascii"),
        nonce.encode("utf-8"),
        _as_bytes(body),
    )
    signature = _sign(private_key, message)
    return (
        f'{SIGNATURE_TYPE} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
        f'timestamp="{stamp}",serial_no="{merchant_serial}"'
    )


# --- verifying ------------------------------------------------------------------------------------


def _lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in headers.items():
        key = str(name).lower()
        text = str(value).strip()
        if key in found and found[key] != text:
            raise BadSignature(f"conflicting values for header {name}")
        found[key] = text
    return found


def _required(headers: dict[str, str], name: str) -> str:
    value = headers.get(name.lower(), "")
    if not value:
        raise MissingHeader(f"missing header {name}")
    return value


def _parse_timestamp(value: str) -> int:
    if not _TIMESTAMP.fullmatch(value):
        raise BadSignature("signature timestamp is not unix seconds")
    return int(value)


def _check_fresh(timestamp: int, now_unix: float, max_skew_s: int) -> None:
    if abs(now_unix - timestamp) > max_skew_s:
        raise StaleTimestamp(f"signature timestamp is more than {max_skew_s} s away from now")


def _verify_platform_signed(
    headers: Mapping[str, str],
    body: bytes,
    keys: Mapping[str, PlatformKey] | Sequence[PlatformKey],
    now_unix: float,
    max_skew_s: int,
) -> None:
    raw = _require_bytes(body)
    index = _platform_key_index(keys)  # a misconfigured key set fails whatever the message
    found = _lower_headers(headers)
    timestamp_text = _required(found, HEADER_TIMESTAMP)
    nonce = _required(found, HEADER_NONCE)
    signature = _required(found, HEADER_SIGNATURE)
    serial = _required(found, HEADER_SERIAL)
    signature_type = found.get(HEADER_SIGNATURE_TYPE.lower())
    if signature_type and signature_type != SIGNATURE_TYPE:
        raise BadSignature(f"unsupported signature type {signature_type[:64]!r}")
    if signature.startswith(PROBE_SIGNATURE_PREFIX):
        raise BadSignature("signature probe (WECHATPAY/SIGNTEST/) rejected")
    timestamp = _parse_timestamp(timestamp_text)
    _check_fresh(timestamp, now_unix, max_skew_s)
    public_key = index.get(_serial_key(serial))
    if public_key is None:
        raise UnknownSerial(f"no platform key with serial {serial[:64]!r}", serial=serial)
    _verify(public_key, _signed_string(timestamp_text.encode("ascii"), nonce.encode("utf-8"), raw), signature)


def verify_notification(
    headers: Mapping[str, str],
    body: bytes,
    keys: Mapping[str, PlatformKey] | Sequence[PlatformKey],
    now_unix: float,
    max_skew_s: int = DEFAULT_MAX_SKEW_S,
) -> None:
    """Checks a notification's `Wechatpay-*` headers (names in any case) against the raw body and
    the shop's platform keys (both modes may be in one set). Raises a `WechatPayCryptoError`."""
    _verify_platform_signed(headers, body, keys, now_unix, max_skew_s)


def verify_response(
    headers: Mapping[str, str],
    body: bytes,
    keys: Mapping[str, PlatformKey] | Sequence[PlatformKey],
    now_unix: float,
    max_skew_s: int = DEFAULT_MAX_SKEW_S,
) -> None:
    """Checks the signature of a WeChat Pay API answer: the same scheme as notifications."""
    _verify_platform_signed(headers, body, keys, now_unix, max_skew_s)


def _parse_authorization(header: str | None) -> dict[str, str]:
    if header is None or not header.strip():
        raise MissingHeader("missing header Authorization")
    schema, _, rest = header.strip().partition(" ")
    if schema != SIGNATURE_TYPE:
        raise BadSignature(f"unsupported authorization type {schema[:64]!r}")
    params: dict[str, str] = {}
    for part in rest.split(","):
        match = _AUTH_PARAM.fullmatch(part)
        if match is None:
            raise BadSignature("malformed Authorization parameters")
        name, value = match.group(1), match.group(2)
        if name in params:
            raise BadSignature(f"duplicated Authorization parameter {name}")
        params[name] = value
    for name in _AUTH_PARAMS:
        if not params.get(name):
            raise BadSignature(f"Authorization lacks {name}")
    return params


def verify_authorization(
    authorization_header: str | None,
    method: str,
    path_with_query: str,
    body: bytes,
    merchant_public_keys: Mapping[str, RSAPublicKey | PlatformKey],
    expected_mchid: str | None,
    now_unix: float,
    max_skew_s: int = DEFAULT_MAX_SKEW_S,
) -> str:
    """WeChat Pay's (the stand-in's) check of a merchant request; returns the signing mchid.
    `merchant_public_keys` maps the merchant certificate serial to its public key."""
    raw = _require_bytes(body)
    params = _parse_authorization(authorization_header)
    mchid = params["mchid"]
    if expected_mchid is not None and mchid != expected_mchid:
        raise BadSignature("Authorization mchid is not the expected merchant")
    timestamp_text = params["timestamp"]
    timestamp = _parse_timestamp(timestamp_text)
    _check_fresh(timestamp, now_unix, max_skew_s)
    index = {
        _serial_key(serial): (key.public_key if isinstance(key, PlatformKey) else key)
        for serial, key in merchant_public_keys.items()
    }
    serial = params["serial_no"]
    public_key = index.get(_serial_key(serial))
    if public_key is None:
        raise UnknownSerial(f"no merchant key with serial {serial[:64]!r}", serial=serial)
    message = _signed_string(
        method.upper().encode("ascii"),
        path_with_query.encode("utf-8"),
        timestamp_text.encode("ascii"),
        params["nonce_str"].encode("utf-8"),
        raw,
    )
    _verify(public_key, message, params["signature"])
    return mchid


# --- AEAD_AES_256_GCM -----------------------------------------------------------------------------


def _apiv3_key_bytes(apiv3_key: bytes | str) -> bytes:
    key = apiv3_key.encode("utf-8") if isinstance(apiv3_key, str) else bytes(apiv3_key)
    if len(key) != APIV3_KEY_BYTES:
        raise ValueError(f"APIv3 key must be {APIV3_KEY_BYTES} bytes")
    return key


def decrypt_resource(resource: Mapping[str, Any], apiv3_key: bytes | str) -> bytes:
    """Opens a notification's `resource` (AEAD_AES_256_GCM under the APIv3 key, `nonce` and
    `associated_data` as UTF-8, base64 `ciphertext` with the 16-byte tag at its end). Any failure
    raises `Undecryptable`."""
    if not isinstance(resource, Mapping):
        raise Undecryptable("resource is not an object")
    algorithm = resource.get("algorithm")
    if algorithm != AEAD_ALGORITHM:
        raise Undecryptable(f"unsupported resource algorithm {str(algorithm)[:64]!r}")
    try:
        key = _apiv3_key_bytes(apiv3_key)
    except (ValueError, TypeError):
        raise Undecryptable(f"APIv3 key must be {APIV3_KEY_BYTES} bytes") from None
    nonce = resource.get("nonce")
    ciphertext = resource.get("ciphertext")
    associated_data = resource.get("associated_data")
    if associated_data is None:
        associated_data = ""
    if not isinstance(nonce, str) or not nonce:
        raise Undecryptable("resource nonce is missing")
    if not isinstance(ciphertext, str) or not ciphertext:
        raise Undecryptable("resource ciphertext is missing")
    if not isinstance(associated_data, str):
        raise Undecryptable("resource associated_data is not a string")
    try:
        sealed = base64.b64decode(ciphertext, validate=True)
    except (binascii.Error, ValueError):
        raise Undecryptable("resource ciphertext is not valid base64") from None
    try:
        return AESGCM(key).decrypt(nonce.encode("utf-8"), sealed, associated_data.encode("utf-8"))
    except (InvalidTag, ValueError):
        raise Undecryptable("resource does not decrypt under the APIv3 key") from None


def encrypt_resource(
    plaintext: bytes,
    apiv3_key: bytes | str,
    nonce: str,
    associated_data: str,
    original_type: str | None = None,
) -> dict[str, str]:
    """WeChat Pay's side of `decrypt_resource`: the `resource` object of a notification. The nonce
    (WeChat Pay uses 12 characters) must never repeat under one key."""
    if not nonce:
        raise ValueError("nonce must be non-empty")
    sealed = AESGCM(_apiv3_key_bytes(apiv3_key)).encrypt(
        nonce.encode("utf-8"), _as_bytes(plaintext), associated_data.encode("utf-8")
    )
    resource = {
        "algorithm": AEAD_ALGORITHM,
        "ciphertext": base64.b64encode(sealed).decode("ascii"),
        "associated_data": associated_data,
        "nonce": nonce,
    }
    if original_type is not None:
        resource["original_type"] = original_type
    return resource
