"""WeChat Pay API v3 signatures and AEAD_AES_256_GCM: round trips, every rejection's typed error, and
the official SDKs' published test vectors (tests/unit/wechatpay_vectors/, sources in its README)."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from fenxiao.adapters.wechatpay_crypto import (
    BadSignature,
    MissingHeader,
    PlatformKey,
    StaleTimestamp,
    Undecryptable,
    UnknownSerial,
    WechatPayCryptoError,
    build_authorization,
    decrypt_resource,
    encrypt_resource,
    load_platform_key,
    load_private_key,
    notification_headers,
    sign_message,
    verify_authorization,
    verify_notification,
    verify_response,
)
from fenxiao_local.wechatpay_keys import (
    StandinKeys,
    certificate_pem,
    generate_rsa_key,
    private_key_pem,
    public_key_pem,
    self_signed_certificate,
)

pytestmark = pytest.mark.unit

VECTORS = Path(__file__).parent / "wechatpay_vectors"
NOW = 1_764_000_000
PUB_KEY_ID = "PUB_KEY_ID_0114232134912410000000000000"
CERT_SERIAL = "5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC"
APIV3_KEY = "0123456789abcdefghijABCDEFGHIJkl"
MCHID = "1900009191"
MERCHANT_SERIAL = "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C"
BODY = '{"id":"EV-2018022511223320873","event_type":"TRANSACTION.SUCCESS","summary":"支付成功"}'.encode()


def vector(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def public_mode_key() -> RSAPrivateKey:
    return generate_rsa_key()


@pytest.fixture(scope="module")
def certificate_key() -> RSAPrivateKey:
    return generate_rsa_key()


@pytest.fixture(scope="module")
def merchant_key() -> RSAPrivateKey:
    return generate_rsa_key()


@pytest.fixture(scope="module")
def key_set(public_mode_key: RSAPrivateKey, certificate_key: RSAPrivateKey) -> list[PlatformKey]:
    """A shop in the middle of a key switch: the new public key and the old platform certificate."""
    certificate = self_signed_certificate(certificate_key, CERT_SERIAL)
    return [
        load_platform_key(PUB_KEY_ID, public_key_pem(public_mode_key)),
        load_platform_key(CERT_SERIAL, certificate_pem(certificate)),
    ]


@pytest.fixture(scope="module")
def signed(public_mode_key: RSAPrivateKey) -> dict[str, str]:
    return notification_headers(public_mode_key, PUB_KEY_ID, BODY, NOW, "5K8264ILTKCH16CQ2502SI8ZNMTM67VS")


# --- notifications: round trips -------------------------------------------------------------------


def test_public_key_mode_round_trip(signed: dict[str, str], key_set: list[PlatformKey]) -> None:
    assert signed["Wechatpay-Serial"] == PUB_KEY_ID
    assert signed["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"
    verify_notification(signed, BODY, key_set, NOW)


def test_certificate_mode_round_trip(certificate_key: RSAPrivateKey, key_set: list[PlatformKey]) -> None:
    headers = notification_headers(certificate_key, CERT_SERIAL, BODY, NOW, "nonce-cert")
    verify_notification(headers, BODY, key_set, NOW)


def test_both_modes_in_one_mapping(
    public_mode_key: RSAPrivateKey, certificate_key: RSAPrivateKey, key_set: list[PlatformKey]
) -> None:
    by_serial = {key.serial: key for key in key_set}
    verify_notification(
        notification_headers(public_mode_key, PUB_KEY_ID, BODY, NOW, "n1"), BODY, by_serial, NOW
    )
    verify_notification(
        notification_headers(certificate_key, CERT_SERIAL, BODY, NOW, "n2"), BODY, by_serial, NOW
    )


def test_signature_checked_with_the_key_of_the_named_serial(
    certificate_key: RSAPrivateKey, key_set: list[PlatformKey]
) -> None:
    # Signed by the certificate's key, but naming the public key's id: the public key must not accept it.
    headers = notification_headers(certificate_key, PUB_KEY_ID, BODY, NOW, "n3")
    with pytest.raises(BadSignature):
        verify_notification(headers, BODY, key_set, NOW)


def test_mapping_entry_under_another_serial_is_a_configuration_error(key_set: list[PlatformKey]) -> None:
    with pytest.raises(ValueError, match="holds the key of serial"):
        verify_notification({}, BODY, {"PUB_KEY_ID_OTHER": key_set[0]}, NOW)


@pytest.mark.parametrize("case", [str.lower, str.upper, lambda name: name.swapcase()])
def test_header_names_are_case_insensitive(
    signed: dict[str, str], key_set: list[PlatformKey], case: Any
) -> None:
    verify_notification({case(name): value for name, value in signed.items()}, BODY, key_set, NOW)


def test_signature_type_header_is_optional(signed: dict[str, str], key_set: list[PlatformKey]) -> None:
    headers = {k: v for k, v in signed.items() if k != "Wechatpay-Signature-Type"}
    verify_notification(headers, BODY, key_set, NOW)


@pytest.mark.parametrize("signature_type", ["WECHATPAY2-SM2-WITH-SM3", "wechatpay2-sha256-rsa2048", "RSA"])
def test_other_signature_types_are_rejected(
    signed: dict[str, str], key_set: list[PlatformKey], signature_type: str
) -> None:
    with pytest.raises(BadSignature, match="signature type"):
        verify_notification({**signed, "Wechatpay-Signature-Type": signature_type}, BODY, key_set, NOW)


def test_verify_response_uses_the_same_scheme(signed: dict[str, str], key_set: list[PlatformKey]) -> None:
    verify_response(signed, BODY, key_set, NOW)
    with pytest.raises(BadSignature):
        verify_response(signed, BODY + b" ", key_set, NOW)
    with pytest.raises(StaleTimestamp):
        verify_response(signed, BODY, key_set, NOW + 301)


def test_the_exact_raw_body_is_signed(public_mode_key: RSAPrivateKey, key_set: list[PlatformKey]) -> None:
    raw = b'{ "b": 1,\n  "a": "\\u652f" }'
    headers = notification_headers(public_mode_key, PUB_KEY_ID, raw, NOW, "n4")
    verify_notification(headers, raw, key_set, NOW)
    reserialised = json.dumps(json.loads(raw), separators=(",", ":")).encode()
    with pytest.raises(BadSignature):
        verify_notification(headers, reserialised, key_set, NOW)


def test_str_body_is_refused(signed: dict[str, str], key_set: list[PlatformKey]) -> None:
    with pytest.raises(TypeError, match="raw bytes"):
        verify_notification(signed, BODY.decode(), key_set, NOW)  # type: ignore[arg-type]


def test_empty_body_signs_and_verifies(public_mode_key: RSAPrivateKey, key_set: list[PlatformKey]) -> None:
    headers = notification_headers(public_mode_key, PUB_KEY_ID, b"", NOW, "n5")
    verify_response(headers, b"", key_set, NOW)


def test_signature_string_is_timestamp_nonce_body(public_mode_key: RSAPrivateKey) -> None:
    # Checked against the raw primitive, independently of the module's message builder.
    signature = base64.b64decode(sign_message(public_mode_key, "1554208460", "abc", b"{}"))
    public_mode_key.public_key().verify(
        signature, b"1554208460\nabc\n{}\n", padding.PKCS1v15(), hashes.SHA256()
    )


# --- notifications: every rejection ---------------------------------------------------------------


@pytest.mark.parametrize("offset", [-301, 301, -86_400, 86_400])
def test_stale_timestamp_both_directions(
    signed: dict[str, str], key_set: list[PlatformKey], offset: int
) -> None:
    with pytest.raises(StaleTimestamp):
        verify_notification(signed, BODY, key_set, NOW + offset)


@pytest.mark.parametrize("offset", [-300, -0.5, 0, 299.9, 300])
def test_skew_up_to_the_limit_is_accepted(
    signed: dict[str, str], key_set: list[PlatformKey], offset: float
) -> None:
    verify_notification(signed, BODY, key_set, NOW + offset)


def test_max_skew_is_configurable(signed: dict[str, str], key_set: list[PlatformKey]) -> None:
    verify_notification(signed, BODY, key_set, NOW + 500, max_skew_s=600)
    with pytest.raises(StaleTimestamp):
        verify_notification(signed, BODY, key_set, NOW + 61, max_skew_s=60)


@pytest.mark.parametrize("timestamp", ["abc", "1.5e9", "-1764000000", "+1764000000", "1_764_000_000", "0x10"])
def test_non_numeric_timestamp_is_a_bad_signature(
    signed: dict[str, str], key_set: list[PlatformKey], timestamp: str
) -> None:
    with pytest.raises(BadSignature, match="unix seconds"):
        verify_notification({**signed, "Wechatpay-Timestamp": timestamp}, BODY, key_set, NOW)


def test_unknown_serial(signed: dict[str, str], key_set: list[PlatformKey]) -> None:
    with pytest.raises(UnknownSerial) as caught:
        verify_notification({**signed, "Wechatpay-Serial": "PUB_KEY_ID_9999"}, BODY, key_set, NOW)
    assert caught.value.serial == "PUB_KEY_ID_9999"


def test_empty_key_set_knows_no_serial(signed: dict[str, str]) -> None:
    with pytest.raises(UnknownSerial):
        verify_notification(signed, BODY, [], NOW)


@pytest.mark.parametrize("serial", [PUB_KEY_ID, CERT_SERIAL, "UNKNOWN"])
def test_probe_signature_is_a_bad_signature(
    signed: dict[str, str], key_set: list[PlatformKey], serial: str
) -> None:
    probe = "WECHATPAY/SIGNTEST/" + signed["Wechatpay-Signature"][19:]
    with pytest.raises(BadSignature, match="probe"):
        verify_notification(
            {**signed, "Wechatpay-Signature": probe, "Wechatpay-Serial": serial}, BODY, key_set, NOW
        )


@pytest.mark.parametrize(
    ("tamper", "error"),
    [
        (lambda h: {**h, "Wechatpay-Nonce": h["Wechatpay-Nonce"] + "x"}, BadSignature),
        (lambda h: {**h, "Wechatpay-Timestamp": str(int(h["Wechatpay-Timestamp"]) + 1)}, BadSignature),
        (lambda h: {**h, "Wechatpay-Serial": CERT_SERIAL}, BadSignature),
        (lambda h: {**h, "Wechatpay-Serial": "PUB_KEY_ID_0114232134912410000000000001"}, UnknownSerial),
        (lambda h: {**h, "Wechatpay-Signature": h["Wechatpay-Signature"][:-6] + "AAAA=="}, BadSignature),
        (lambda h: {**h, "Wechatpay-Signature": h["Wechatpay-Signature"][:100]}, BadSignature),
        (lambda h: {**h, "Wechatpay-Signature": "not base64 at all!"}, BadSignature),
        (lambda h: {**h, "wechatpay-nonce": "other"}, BadSignature),  # two spellings, two values
    ],
    ids=[
        "nonce",
        "timestamp",
        "serial-known",
        "serial-unknown",
        "signature",
        "truncated",
        "non-base64",
        "dup",
    ],
)
def test_tampered_headers(
    signed: dict[str, str], key_set: list[PlatformKey], tamper: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        verify_notification(tamper(signed), BODY, key_set, NOW)


@pytest.mark.parametrize("body", [BODY + b"\n", BODY[:-1], BODY.replace(b"SUCCESS", b"SUCCESs"), b""])
def test_tampered_body(signed: dict[str, str], key_set: list[PlatformKey], body: bytes) -> None:
    with pytest.raises(BadSignature):
        verify_notification(signed, body, key_set, NOW)


@pytest.mark.parametrize(
    "name", ["Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature", "Wechatpay-Serial"]
)
@pytest.mark.parametrize("absent", ["removed", "empty", "blank"])
def test_missing_header(signed: dict[str, str], key_set: list[PlatformKey], name: str, absent: str) -> None:
    headers = {k: v for k, v in signed.items() if k != name}
    if absent != "removed":
        headers[name] = "" if absent == "empty" else "   "
    with pytest.raises(MissingHeader, match=name):
        verify_notification(headers, BODY, key_set, NOW)


def test_errors_share_one_base(signed: dict[str, str], key_set: list[PlatformKey]) -> None:
    for error in (MissingHeader, BadSignature, StaleTimestamp, UnknownSerial, Undecryptable):
        assert issubclass(error, WechatPayCryptoError)
    with pytest.raises(WechatPayCryptoError):
        verify_notification(signed, BODY, key_set, NOW + 10_000)


# --- AEAD_AES_256_GCM -----------------------------------------------------------------------------


@pytest.mark.parametrize("associated_data", ["transaction", "", None])
def test_resource_round_trip(associated_data: str | None) -> None:
    plaintext = b'{"out_trade_no":"o-1","trade_state":"SUCCESS","amount":{"total":100}}'
    resource: dict[str, Any] = encrypt_resource(plaintext, APIV3_KEY, "fG3d9xP1qLz0", associated_data or "")
    assert resource["algorithm"] == "AEAD_AES_256_GCM"
    if associated_data is None:
        del resource["associated_data"]
    assert decrypt_resource(resource, APIV3_KEY) == plaintext
    assert decrypt_resource(resource, APIV3_KEY.encode()) == plaintext


def test_resource_carries_original_type() -> None:
    resource = encrypt_resource(b"{}", APIV3_KEY, "nonce0000000", "refund", original_type="refund")
    assert resource["original_type"] == "refund"
    assert decrypt_resource(resource, APIV3_KEY) == b"{}"


@settings(max_examples=50, deadline=None)
@given(
    plaintext=st.binary(max_size=512),
    associated_data=st.text(max_size=40),
    nonce=st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=12, max_size=12
    ),
)
def test_resource_round_trip_property(plaintext: bytes, associated_data: str, nonce: str) -> None:
    resource = encrypt_resource(plaintext, APIV3_KEY, nonce, associated_data)
    assert decrypt_resource(resource, APIV3_KEY) == plaintext


def _sealed() -> dict[str, str]:
    return encrypt_resource(b'{"refund_status":"SUCCESS"}', APIV3_KEY, "aBcDeFgHiJkL", "refund")


def _flip_ciphertext(resource: dict[str, str]) -> dict[str, str]:
    raw = bytearray(base64.b64decode(resource["ciphertext"]))
    raw[0] ^= 1
    return {**resource, "ciphertext": base64.b64encode(bytes(raw)).decode()}


def _flip_tag(resource: dict[str, str]) -> dict[str, str]:
    raw = bytearray(base64.b64decode(resource["ciphertext"]))
    raw[-1] ^= 0x80
    return {**resource, "ciphertext": base64.b64encode(bytes(raw)).decode()}


@pytest.mark.parametrize(
    "tamper",
    [
        _flip_ciphertext,
        _flip_tag,
        lambda r: {**r, "ciphertext": r["ciphertext"][:8]},  # shorter than the tag
        lambda r: {**r, "ciphertext": "***"},
        lambda r: {**r, "ciphertext": ""},
        lambda r: {**r, "associated_data": "transaction"},
        lambda r: {**r, "associated_data": ""},
        lambda r: {k: v for k, v in r.items() if k != "associated_data"},
        lambda r: {**r, "nonce": "aBcDeFgHiJkM"},
        lambda r: {**r, "nonce": ""},
        lambda r: {**r, "nonce": "short"},
        lambda r: {k: v for k, v in r.items() if k != "nonce"},
        lambda r: {**r, "algorithm": "AEAD_SM4_GCM"},
        lambda r: {k: v for k, v in r.items() if k != "algorithm"},
        lambda r: {**r, "nonce": 123456789012},
        lambda r: {**r, "associated_data": ["refund"]},
    ],
    ids=[
        "ciphertext", "tag", "truncated", "non-base64", "empty-ciphertext", "associated_data", "empty-ad",
        "absent-ad", "nonce", "empty-nonce", "short-nonce", "absent-nonce", "algorithm", "absent-algorithm",
        "nonce-type", "ad-type",
    ],
)  # fmt: skip
def test_tampered_resource_is_undecryptable(tamper: Any) -> None:
    with pytest.raises(Undecryptable):
        decrypt_resource(tamper(_sealed()), APIV3_KEY)


@pytest.mark.parametrize(
    "key",
    ["0123456789abcdefghijABCDEFGHIJkL", APIV3_KEY[:31], APIV3_KEY + "m", APIV3_KEY[:16], "", b"\x00" * 32],
    ids=["other-key", "31-bytes", "33-bytes", "16-bytes", "empty", "zero-bytes"],
)
def test_wrong_or_malformed_key_is_undecryptable(key: str | bytes) -> None:
    with pytest.raises(Undecryptable) as caught:
        decrypt_resource(_sealed(), key)
    assert APIV3_KEY not in str(caught.value)


def test_resource_that_is_not_an_object() -> None:
    with pytest.raises(Undecryptable):
        decrypt_resource("resource", APIV3_KEY)  # type: ignore[arg-type]


def test_encrypt_needs_a_32_byte_key_and_a_nonce() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        encrypt_resource(b"x", APIV3_KEY[:-1], "aBcDeFgHiJkL", "")
    with pytest.raises(ValueError, match="nonce"):
        encrypt_resource(b"x", APIV3_KEY, "", "")


# --- merchant requests ----------------------------------------------------------------------------

AUTH_FORMAT = re.compile(
    r'WECHATPAY2-SHA256-RSA2048 mchid="(?P<mchid>[^"]+)",nonce_str="(?P<nonce>[^"]+)",'
    r'signature="(?P<signature>[A-Za-z0-9+/=]+)",timestamp="(?P<timestamp>[0-9]+)",serial_no="(?P<serial>[^"]+)"'
)
TRANSFER_PATH = "/v3/fund-app/mch-transfer/transfer-bills"
TRANSFER_BODY = b'{"appid":"wxf636efh567hg4356","out_bill_no":"wd-123","transfer_amount":400}'


@pytest.fixture(scope="module")
def merchant_keys(merchant_key: RSAPrivateKey) -> dict[str, Any]:
    return {MERCHANT_SERIAL: merchant_key.public_key()}


def _authorize(
    merchant_key: RSAPrivateKey, method: str = "POST", path: str = TRANSFER_PATH, body: bytes = TRANSFER_BODY
) -> str:
    return build_authorization(
        method, path, body, MCHID, MERCHANT_SERIAL, merchant_key, NOW, "593BEC0C930BF1AFEB40B4A08C8FB242"
    )


def test_authorization_has_the_documented_form(merchant_key: RSAPrivateKey) -> None:
    header = _authorize(merchant_key)
    match = AUTH_FORMAT.fullmatch(header)
    assert match is not None, header
    assert match["mchid"] == MCHID
    assert match["nonce"] == "593BEC0C930BF1AFEB40B4A08C8FB242"
    assert match["timestamp"] == str(NOW)
    assert match["serial"] == MERCHANT_SERIAL
    # The five-line request string, checked with the raw primitive.
    expected = (
        f"POST\n{TRANSFER_PATH}\n{NOW}\n593BEC0C930BF1AFEB40B4A08C8FB242\n".encode() + TRANSFER_BODY + b"\n"
    )
    merchant_key.public_key().verify(
        base64.b64decode(match["signature"]), expected, padding.PKCS1v15(), hashes.SHA256()
    )


def test_authorization_round_trip(merchant_key: RSAPrivateKey, merchant_keys: dict[str, Any]) -> None:
    header = _authorize(merchant_key)
    assert (
        verify_authorization(header, "POST", TRANSFER_PATH, TRANSFER_BODY, merchant_keys, MCHID, NOW) == MCHID
    )
    assert (
        verify_authorization(header, "post", TRANSFER_PATH, TRANSFER_BODY, merchant_keys, None, NOW) == MCHID
    )


def test_get_with_query_and_empty_body(merchant_key: RSAPrivateKey, merchant_keys: dict[str, Any]) -> None:
    path = "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/wd-123"
    header = build_authorization("get", path + "?x=1", "", MCHID, MERCHANT_SERIAL, merchant_key, NOW, "n")
    verify_authorization(header, "GET", path + "?x=1", b"", merchant_keys, MCHID, NOW)
    with pytest.raises(BadSignature):
        verify_authorization(header, "GET", path, b"", merchant_keys, MCHID, NOW)


def test_str_body_is_signed_as_utf8(merchant_key: RSAPrivateKey, merchant_keys: dict[str, Any]) -> None:
    header = build_authorization(
        "POST", TRANSFER_PATH, '{"remark":"佣金"}', MCHID, MERCHANT_SERIAL, merchant_key, NOW, "n"
    )
    assert (
        verify_authorization(
            header, "POST", TRANSFER_PATH, '{"remark":"佣金"}'.encode(), merchant_keys, MCHID, NOW
        )
        == MCHID
    )


def test_authorization_parameters_in_any_order(
    merchant_key: RSAPrivateKey, merchant_keys: dict[str, Any]
) -> None:
    match = AUTH_FORMAT.fullmatch(_authorize(merchant_key))
    assert match is not None
    shuffled = (
        f'WECHATPAY2-SHA256-RSA2048 serial_no="{match["serial"]}", timestamp="{match["timestamp"]}", '
        f'signature="{match["signature"]}", nonce_str="{match["nonce"]}", mchid="{match["mchid"]}"'
    )
    assert (
        verify_authorization(shuffled, "POST", TRANSFER_PATH, TRANSFER_BODY, merchant_keys, MCHID, NOW)
        == MCHID
    )


def test_platform_key_accepted_as_merchant_key(merchant_key: RSAPrivateKey) -> None:
    keys = {MERCHANT_SERIAL: PlatformKey(MERCHANT_SERIAL, merchant_key.public_key())}
    assert (
        verify_authorization(_authorize(merchant_key), "POST", TRANSFER_PATH, TRANSFER_BODY, keys, MCHID, NOW)
        == MCHID
    )


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"method": "PUT"}, BadSignature),
        ({"path": TRANSFER_PATH + "/x"}, BadSignature),
        ({"body": TRANSFER_BODY.replace(b"400", b"401")}, BadSignature),
        ({"expected_mchid": "1900009192"}, BadSignature),
        ({"now": NOW + 301}, StaleTimestamp),
        ({"now": NOW - 301}, StaleTimestamp),
        ({"keys": {}}, UnknownSerial),
    ],
    ids=["method", "path", "body", "mchid", "late", "early", "unknown-serial"],
)
def test_authorization_rejections(
    merchant_key: RSAPrivateKey, merchant_keys: dict[str, Any], change: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        verify_authorization(
            _authorize(merchant_key),
            change.get("method", "POST"),
            change.get("path", TRANSFER_PATH),
            change.get("body", TRANSFER_BODY),
            change.get("keys", merchant_keys),
            change.get("expected_mchid", MCHID),
            change.get("now", NOW),
        )


def _rewrite(header: str, name: str, value: str | None) -> str:
    params = dict(re.findall(r'(\w+)="([^"]*)"', header))
    if value is None:
        del params[name]
    else:
        params[name] = value
    return "WECHATPAY2-SHA256-RSA2048 " + ",".join(f'{k}="{v}"' for k, v in params.items())


@pytest.mark.parametrize(
    ("rewrite", "error"),
    [
        (lambda h: _rewrite(h, "mchid", "1900009192"), BadSignature),  # not the expected merchant
        (lambda h: _rewrite(h, "nonce_str", "other"), BadSignature),
        (lambda h: _rewrite(h, "timestamp", str(NOW + 1)), BadSignature),
        (lambda h: _rewrite(h, "timestamp", "soon"), BadSignature),
        (lambda h: _rewrite(h, "serial_no", "00" + MERCHANT_SERIAL.lower()), None),  # same serial, other spelling
        (lambda h: _rewrite(h, "serial_no", "ABCDEF"), UnknownSerial),
        (lambda h: _rewrite(h, "signature", "WECHATPAY/SIGNTEST/abc"), BadSignature),
        (lambda h: _rewrite(h, "signature", None), BadSignature),
        (lambda h: _rewrite(h, "signature", ""), BadSignature),
        (lambda h: h.replace("WECHATPAY2-SHA256-RSA2048", "WECHATPAY2-SM2-WITH-SM3"), BadSignature),
        (lambda h: h.replace(',nonce_str="', ',mchid="1",nonce_str="'), BadSignature),  # duplicated
        (lambda h: h.replace('",', '";'), BadSignature),
        (lambda h: h + ',extra="ignored"', None),
        (lambda h: None, MissingHeader),
        (lambda h: "", MissingHeader),
        (lambda h: "  ", MissingHeader),
    ],
    ids=[
        "mchid", "nonce", "timestamp", "timestamp-text", "serial-spelling", "serial-unknown", "probe",
        "no-signature", "empty-signature", "schema", "duplicate", "separator", "unknown-param", "none", "empty",
        "blank",
    ],
)  # fmt: skip
def test_authorization_header_rewrites(
    merchant_key: RSAPrivateKey, merchant_keys: dict[str, Any], rewrite: Any, error: type[Exception] | None
) -> None:
    header = rewrite(_authorize(merchant_key))
    if error is None:
        assert (
            verify_authorization(header, "POST", TRANSFER_PATH, TRANSFER_BODY, merchant_keys, MCHID, NOW)
            == MCHID
        )
    else:
        with pytest.raises(error):
            verify_authorization(header, "POST", TRANSFER_PATH, TRANSFER_BODY, merchant_keys, MCHID, NOW)


@pytest.mark.parametrize(
    "args",
    [
        {"path": "https://api.mch.weixin.qq.com/v3/x"},
        {"path": "/v3/x y"},
        {"method": "GET /"},
        {"nonce": 'a"b'},
        {"nonce": ""},
        {"mchid": "1,2"},
        {"serial": "A\nB"},
    ],
)
def test_build_authorization_refuses_values_that_break_the_header(
    merchant_key: RSAPrivateKey, args: dict[str, str]
) -> None:
    with pytest.raises(ValueError):
        build_authorization(
            args.get("method", "POST"),
            args.get("path", TRANSFER_PATH),
            b"",
            args.get("mchid", MCHID),
            args.get("serial", MERCHANT_SERIAL),
            merchant_key,
            NOW,
            args.get("nonce", "n"),
        )


# --- loading keys ---------------------------------------------------------------------------------


def test_load_platform_public_key(public_mode_key: RSAPrivateKey) -> None:
    key = load_platform_key(f"  {PUB_KEY_ID} ", public_key_pem(public_mode_key))
    assert key.serial == PUB_KEY_ID
    assert key.public_key.public_numbers() == public_mode_key.public_key().public_numbers()


def test_load_pkcs1_rsa_public_key(public_mode_key: RSAPrivateKey) -> None:
    pem = (
        public_mode_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
        .decode()
    )
    assert load_platform_key(PUB_KEY_ID, pem).serial == PUB_KEY_ID


@pytest.mark.parametrize("given_serial", [CERT_SERIAL, CERT_SERIAL.lower(), ""])
def test_load_platform_certificate(certificate_key: RSAPrivateKey, given_serial: str) -> None:
    pem = certificate_pem(self_signed_certificate(certificate_key, CERT_SERIAL))
    key = load_platform_key(given_serial, pem)
    assert key.serial == CERT_SERIAL
    assert key.public_key.public_numbers() == certificate_key.public_key().public_numbers()


def test_certificate_serial_must_match(certificate_key: RSAPrivateKey) -> None:
    pem = certificate_pem(self_signed_certificate(certificate_key, CERT_SERIAL))
    with pytest.raises(ValueError, match="does not match"):
        load_platform_key("1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C", pem)


def test_serial_with_leading_zeros(certificate_key: RSAPrivateKey) -> None:
    # WeChat Pay prints certificate serials without leading zeros; a header with them still matches.
    pem = certificate_pem(self_signed_certificate(certificate_key, "00ABCDEF"))
    key = load_platform_key("", pem)
    assert key.serial == "ABCDEF"
    headers = notification_headers(certificate_key, "00abcdef", BODY, NOW, "n")
    verify_notification(headers, BODY, [key], NOW)


def test_platform_key_from_expired_certificate_still_loads(certificate_key: RSAPrivateKey) -> None:
    # Decision: validity dates are not checked; the shop's key set is the trust anchor.
    old = self_signed_certificate(
        certificate_key, "0123", not_before=datetime(2015, 1, 1, tzinfo=UTC), valid_days=30
    )
    assert load_platform_key("123", certificate_pem(old)).serial == "123"


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        ("", "PEM public key"),
        ("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA2VCTd91fnUn73Xy9DLvt", "PEM public key"),
        ("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----", "not a valid PEM public key"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "not a valid PEM X.509"),
    ],
)
def test_load_platform_key_rejects_other_input(pem: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_platform_key(PUB_KEY_ID, pem)


def test_load_platform_key_rejects_private_key_without_echoing_it(public_mode_key: RSAPrivateKey) -> None:
    pem = private_key_pem(public_mode_key)
    with pytest.raises(ValueError, match="must be public") as caught:
        load_platform_key(PUB_KEY_ID, pem)
    body_line = pem.splitlines()[1]
    assert body_line not in str(caught.value)


def test_public_key_needs_its_id(public_mode_key: RSAPrivateKey) -> None:
    with pytest.raises(ValueError, match="PUB_KEY_ID"):
        load_platform_key(" ", public_key_pem(public_mode_key))


def test_non_rsa_and_small_keys_are_refused() -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_public = ec_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ValueError, match="RSA"):
        load_platform_key(PUB_KEY_ID, ec_public.decode())
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ValueError, match="2048"):
        load_platform_key(PUB_KEY_ID, public_key_pem(small))
    with pytest.raises(ValueError, match="2048"):
        load_private_key(private_key_pem(small))
    ec_private = ec_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="RSA"):
        load_private_key(ec_private.decode())


def test_load_private_key_forms(merchant_key: RSAPrivateKey) -> None:
    pkcs8 = private_key_pem(merchant_key)
    pkcs1 = merchant_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    for pem in (pkcs8, pkcs1, "\n" + pkcs8 + "\n\n"):
        assert load_private_key(pem).private_numbers() == merchant_key.private_numbers()


def test_load_private_key_errors_never_echo_the_key(merchant_key: RSAPrivateKey) -> None:
    pem = private_key_pem(merchant_key)
    encrypted = merchant_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    ).decode()
    broken = pem.replace(pem.splitlines()[3], "A" * 64)
    for bad, message in (
        (encrypted, "encrypted"),
        (broken, "not a valid PEM private key"),
        ("".join(pem.splitlines()[1:-1]), "must be a PEM private key"),
        (public_key_pem(merchant_key), "must be a PEM private key"),
    ):
        with pytest.raises(ValueError, match=message) as caught:
            load_private_key(bad)
        assert all(line not in str(caught.value) for line in pem.splitlines()[1:-1])


# --- the stand-in's keys --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def standin() -> StandinKeys:
    return StandinKeys.generate()


def test_standin_keys_have_wechatpay_shapes(standin: StandinKeys) -> None:
    assert re.fullmatch(r"PUB_KEY_ID_0114[0-9]{24}", standin.platform_public_key_id)
    assert re.fullmatch(r"[1-9A-F][0-9A-F]{39}", standin.certificate_serial)
    assert re.fullmatch(r"[1-9A-F][0-9A-F]{39}", standin.merchant_serial)
    assert re.fullmatch(r"[A-Za-z0-9]{32}", standin.apiv3_key)
    assert standin.platform_private_key.key_size == 2048
    assert {k.serial for k in standin.platform_keys()} == {
        standin.platform_public_key_id,
        standin.certificate_serial,
    }


def test_standin_signs_in_both_modes_and_encrypts(standin: StandinKeys) -> None:
    keys = standin.platform_keys()
    resource = encrypt_resource(
        b'{"trade_state":"SUCCESS"}', standin.apiv3_key, "Kj7QIyUiYx1q", "transaction"
    )
    body = json.dumps({"id": "n-1", "resource_type": "encrypt-resource", "resource": resource}).encode()
    for serial in (standin.platform_public_key_id, standin.certificate_serial):
        headers = notification_headers(standin.signer(serial), serial, body, NOW, "nonce")
        verify_notification(headers, body, keys, NOW)
    assert decrypt_resource(json.loads(body)["resource"], standin.apiv3_key) == b'{"trade_state":"SUCCESS"}'
    with pytest.raises(KeyError):
        standin.signer("PUB_KEY_ID_OTHER")


def test_standin_checks_merchant_requests(standin: StandinKeys) -> None:
    merchant = load_private_key(standin.merchant_private_key_pem())
    header = build_authorization(
        "POST", TRANSFER_PATH, TRANSFER_BODY, MCHID, standin.merchant_serial, merchant, NOW, "n"
    )
    keys = {standin.merchant_serial: standin.merchant_private_key.public_key()}
    assert verify_authorization(header, "POST", TRANSFER_PATH, TRANSFER_BODY, keys, MCHID, NOW) == MCHID


def test_standin_keys_json_round_trip(standin: StandinKeys) -> None:
    text = standin.to_json()
    again = StandinKeys.from_json(text)
    assert again.to_json() == text
    assert again.certificate_serial == standin.certificate_serial
    assert again.platform_private_key.private_numbers() == standin.platform_private_key.private_numbers()


def test_standin_keys_json_is_validated(standin: StandinKeys) -> None:
    data = json.loads(standin.to_json())
    with pytest.raises(ValueError, match="version"):
        StandinKeys.from_json(json.dumps({**data, "version": 2}))
    with pytest.raises(ValueError, match="apiv3_key"):
        StandinKeys.from_json(json.dumps({**data, "apiv3_key": "short"}))
    with pytest.raises(ValueError, match="missing field merchant_serial"):
        StandinKeys.from_json(json.dumps({k: v for k, v in data.items() if k != "merchant_serial"}))
    swapped = {**data, "certificate_private_key_pem": data["platform_private_key_pem"]}
    with pytest.raises(ValueError, match="certificate is not for"):
        StandinKeys.from_json(json.dumps(swapped))


# --- the SDKs' published vectors ------------------------------------------------------------------


def test_java_aead_vector_decrypts() -> None:
    v = vector("java_aead_aes_cipher.json")
    resource = {
        "algorithm": "AEAD_AES_256_GCM",
        "nonce": v["nonce"],
        "associated_data": v["associated_data"],
        "ciphertext": v["ciphertext"],
    }
    assert decrypt_resource(resource, v["apiv3_key"]) == v["plaintext"].encode()


def test_java_aead_vector_is_reproduced_by_encryption() -> None:
    v = vector("java_aead_aes_cipher.json")
    resource = encrypt_resource(v["plaintext"].encode(), v["apiv3_key"], v["nonce"], v["associated_data"])
    assert resource["ciphertext"] == v["ciphertext"]


@pytest.mark.parametrize("bad", ["associated_data", "nonce", "ciphertext"])
def test_java_aead_vector_bad_inputs(bad: str) -> None:
    # AeadAesCipherTest's testDecryptBadAAD / testDecryptBadNonce / testDecryptBadCipher.
    v = vector("java_aead_aes_cipher.json")
    resource = {
        "algorithm": "AEAD_AES_256_GCM",
        "nonce": v["bad_nonce"] if bad == "nonce" else v["nonce"],
        "associated_data": v["bad_associated_data"] if bad == "associated_data" else v["associated_data"],
        "ciphertext": (
            base64.b64encode(bytes(v["bad_ciphertext_zero_bytes"])).decode()
            if bad == "ciphertext"
            else v["ciphertext"]
        ),
    }
    with pytest.raises(Undecryptable):
        decrypt_resource(resource, v["apiv3_key"])


def test_java_downloaded_platform_certificate_decrypts_and_loads() -> None:
    v = vector("java_download_certificate.json")
    entry = v["data"][0]
    pem = decrypt_resource(entry["encrypt_certificate"], v["apiv3_key"]).decode()
    key = load_platform_key(entry["serial_no"], pem)
    assert key.serial == v["expected_serial"]
    assert key.public_key.key_size == 2048


@pytest.fixture(scope="module")
def go_vector() -> dict[str, Any]:
    return vector("go_notify_payscore.json")


def test_go_notification_verifies_in_certificate_mode(go_vector: dict[str, Any]) -> None:
    key = load_platform_key(go_vector["certificate_serial"], go_vector["wechatpay_certificate_pem"])
    assert key.serial == "D7CE59D1F522D701"
    verify_notification(go_vector["headers"], go_vector["body"].encode(), [key], go_vector["now_unix"])


def test_go_notification_verifies_in_public_key_mode_within_a_mixed_set(go_vector: dict[str, Any]) -> None:
    # The Go SDK's public key test uses the same RSA key as its certificate under id F5765756002FDD77;
    # the serial header is not signed, so the same notification names that id in public key mode.
    public = load_platform_key(go_vector["public_key_id"], go_vector["public_key_pem"])
    certificate = load_platform_key("", go_vector["wechatpay_certificate_pem"])
    assert public.public_key.public_numbers() == certificate.public_key.public_numbers()
    headers = {**go_vector["headers"], "Wechatpay-Serial": go_vector["public_key_id"]}
    verify_notification(headers, go_vector["body"].encode(), [certificate, public], go_vector["now_unix"])
    lowered = {k.lower(): v for k, v in go_vector["headers"].items()}
    verify_notification(
        lowered,
        go_vector["body"].encode(),
        {public.serial: public, certificate.serial: certificate},
        go_vector["now_unix"],
    )


def test_go_notification_rejections(go_vector: dict[str, Any]) -> None:
    key = load_platform_key("", go_vector["wechatpay_certificate_pem"])
    body = go_vector["body"].encode()
    now = go_vector["now_unix"]
    with pytest.raises(StaleTimestamp):
        verify_notification(go_vector["headers"], body, [key], now + 301)
    with pytest.raises(BadSignature):
        verify_notification(
            go_vector["headers"], body.replace("签约成功".encode(), "签约失败".encode()), [key], now
        )
    with pytest.raises(UnknownSerial):
        verify_notification(go_vector["headers"], body, [], now)


def test_go_notification_resource_is_aes128_so_decrypt_resource_refuses_it(go_vector: dict[str, Any]) -> None:
    resource = json.loads(go_vector["body"])["resource"]
    assert resource["algorithm"] == "AEAD_AES_256_GCM"
    key = go_vector["mch_apiv3_key"]
    assert len(key.encode()) == 16  # not an APIv3 key: those are 32 bytes
    with pytest.raises(Undecryptable, match="32 bytes"):
        decrypt_resource(resource, key)
    # The data itself is intact: with the 16-byte key, GCM (AES-128) opens it to the Go test's plaintext.
    opened = AESGCM(key.encode()).decrypt(
        resource["nonce"].encode(),
        base64.b64decode(resource["ciphertext"]),
        resource["associated_data"].encode(),
    )
    assert opened.decode() == go_vector["plaintext"]
