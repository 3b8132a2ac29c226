"""Cross-check against an independent implementation, the `wechatpayv3` SDK (test-only dependency),
used offline: its request signing, its answer and callback verification, its AES-GCM decryption.
Network calls are replaced by fakes that fail the test if anything else is attempted."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from wechatpayv3 import utils as sdk_utils
from wechatpayv3.core import Core
from wechatpayv3.type import RequestType

from fenxiao.adapters.wechatpay_crypto import (
    BadSignature,
    build_authorization,
    decrypt_resource,
    encrypt_resource,
    notification_headers,
    sign_message,
    verify_authorization,
    verify_notification,
)
from fenxiao_local.wechatpay_keys import StandinKeys

pytestmark = pytest.mark.unit

MCHID = "1900009191"
NOW = 1_764_000_000
TRANSFER_PATH = "/v3/fund-app/mch-transfer/transfer-bills"


@pytest.fixture(scope="module")
def keys() -> StandinKeys:
    return StandinKeys.generate()


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the SDK tried to reach the network")

    for verb in ("get", "post", "put", "patch", "delete"):
        monkeypatch.setattr(requests, verb, refuse)


def _sdk_core_public_key_mode(keys: StandinKeys) -> Core:
    return Core(
        mchid=MCHID,
        cert_serial_no=keys.merchant_serial,
        private_key=keys.merchant_private_key_pem(),
        apiv3_key=keys.apiv3_key,
        public_key=keys.platform_public_key_pem(),
        public_key_id=keys.platform_public_key_id,
    )


def _sdk_core_certificate_mode(keys: StandinKeys, cert_dir: Path) -> Core:
    # Certificate mode reads the platform certificates from cert_dir; nothing is downloaded.
    (cert_dir / f"{keys.certificate_serial}.pem").write_text(keys.platform_certificate_pem())
    return Core(
        mchid=MCHID,
        cert_serial_no=keys.merchant_serial,
        private_key=keys.merchant_private_key_pem(),
        apiv3_key=keys.apiv3_key,
        cert_dir=str(cert_dir),
    )


def _notification(keys: StandinKeys) -> tuple[bytes, dict[str, Any]]:
    transaction = {"out_trade_no": "order-1", "trade_state": "SUCCESS", "amount": {"total": 100}}
    resource = encrypt_resource(
        json.dumps(transaction).encode(),
        keys.apiv3_key,
        "Kj7QIyUiYx1q",
        "transaction",
        original_type="transaction",
    )
    body = json.dumps(
        {
            "id": "EV-2018022511223320873",
            "create_time": "2015-05-20T13:29:35+08:00",
            "resource_type": "encrypt-resource",
            "event_type": "TRANSACTION.SUCCESS",
            "summary": "支付成功",
            "resource": resource,
        },
        ensure_ascii=False,
    ).encode()
    return body, transaction


def test_our_authorization_is_byte_identical_to_the_sdks(
    keys: StandinKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sdk_utils.time, "time", lambda: float(NOW))
    data = {"appid": "wxf636efh567hg4356", "out_bill_no": "wd-123", "transfer_amount": 400}
    body = json.dumps(data)
    sdk = sdk_utils.build_authorization(
        TRANSFER_PATH,
        "POST",
        MCHID,
        keys.merchant_serial,
        keys.merchant_private_key,
        data=body,
        nonce_str="N0NCE",
    )
    ours = build_authorization(
        "POST", TRANSFER_PATH, body, MCHID, keys.merchant_serial, keys.merchant_private_key, NOW, "N0NCE"
    )
    assert ours == sdk
    merchant = {keys.merchant_serial: keys.merchant_private_key.public_key()}
    assert verify_authorization(sdk, "POST", TRANSFER_PATH, body.encode(), merchant, MCHID, NOW) == MCHID


def test_sdk_verifies_and_decrypts_our_notification_in_public_key_mode(keys: StandinKeys) -> None:
    body, transaction = _notification(keys)
    serial = keys.platform_public_key_id
    headers = notification_headers(keys.signer(serial), serial, body, int(time.time()), "nonce-pk")
    result = _sdk_core_public_key_mode(keys).callback(headers, body)
    assert result is not None
    assert result["resource"] == transaction


def test_sdk_verifies_and_decrypts_our_notification_in_certificate_mode(
    keys: StandinKeys, tmp_path: Path
) -> None:
    body, transaction = _notification(keys)
    serial = keys.certificate_serial
    headers = notification_headers(keys.signer(serial), serial, body, int(time.time()), "nonce-cert")
    result = _sdk_core_certificate_mode(keys, tmp_path).callback(headers, body)
    assert result is not None
    assert result["resource"] == transaction


def test_sdk_rejects_what_we_reject(keys: StandinKeys) -> None:
    # The cross-check is not vacuous: a tampered body fails in the SDK as in ours.
    body, _ = _notification(keys)
    serial = keys.platform_public_key_id
    headers = notification_headers(keys.signer(serial), serial, body, NOW, "nonce")
    tampered = body.replace(b"SUCCESS", b"FAILURE")
    assert _sdk_core_public_key_mode(keys).callback(headers, tampered) is None
    with pytest.raises(BadSignature):
        verify_notification(headers, tampered, keys.platform_keys(), NOW)


def test_we_verify_the_sdks_platform_style_signature(keys: StandinKeys) -> None:
    body, _ = _notification(keys)
    signature = sdk_utils.rsa_sign(keys.platform_private_key, f"{NOW}\nsdk-nonce\n{body.decode()}\n")
    assert signature == sign_message(keys.platform_private_key, str(NOW), "sdk-nonce", body)
    headers = {
        "Wechatpay-Timestamp": str(NOW),
        "Wechatpay-Nonce": "sdk-nonce",
        "Wechatpay-Signature": signature,
        "Wechatpay-Serial": keys.platform_public_key_id,
    }
    verify_notification(headers, body, keys.platform_keys(), NOW)
    assert sdk_utils.rsa_verify(
        str(NOW), "sdk-nonce", body.decode(), signature, keys.platform_private_key.public_key()
    )


def test_sdk_decrypts_our_resource(keys: StandinKeys) -> None:
    resource = encrypt_resource("佣金提现".encode(), keys.apiv3_key, "aBcDeFgHiJkL", "mch-transfer")
    assert (
        sdk_utils.aes_decrypt(
            resource["nonce"], resource["ciphertext"], resource["associated_data"], keys.apiv3_key
        )
        == "佣金提现"
    )
    assert decrypt_resource(resource, keys.apiv3_key) == "佣金提现".encode()


class _FakeAnswer:
    def __init__(self, status_code: int, headers: dict[str, str], text: str) -> None:
        self.status_code = status_code
        self.headers = headers
        self.text = text
        self.content = text.encode()


def test_sdk_request_is_accepted_by_our_standin_check_and_our_signed_answer_by_the_sdk(
    keys: StandinKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full exchange: the SDK signs a transfer request; our stand-in side verifies it from the
    bytes `requests` would send; the answer, signed by our notification_headers, passes the SDK."""
    seen: dict[str, str] = {}
    merchant = {keys.merchant_serial: keys.merchant_private_key.public_key()}
    serial = keys.platform_public_key_id

    def fake_post(url: str, json: Any = None, data: Any = None, headers: Any = None, **_: Any) -> _FakeAnswer:
        prepared = requests.Request("POST", url, json=json, data=data, headers=headers).prepare()
        assert isinstance(prepared.body, bytes)  # the exact bytes requests would send
        body = prepared.body
        authorization = prepared.headers["Authorization"]
        assert isinstance(authorization, str)
        seen["mchid"] = verify_authorization(
            authorization, "POST", prepared.path_url, body, merchant, MCHID, time.time()
        )
        answer = '{"out_bill_no":"wd-123","state":"WAIT_USER_CONFIRM","package_info":"affffddafdfafddffda=="}'
        signed = notification_headers(
            keys.signer(serial), serial, answer.encode(), int(time.time()), "ans-nonce"
        )
        return _FakeAnswer(200, {**signed, "Content-Type": "application/json"}, answer)

    monkeypatch.setattr(requests, "post", fake_post)
    core = _sdk_core_public_key_mode(keys)
    code, text = core.request(
        TRANSFER_PATH,
        method=RequestType.POST,
        data={"appid": "wxf636efh567hg4356", "out_bill_no": "wd-123", "transfer_amount": 400},
    )
    assert code == 200
    assert json.loads(text)["state"] == "WAIT_USER_CONFIRM"
    assert seen["mchid"] == MCHID


def test_sdk_refuses_an_answer_signed_with_another_key(
    keys: StandinKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    other: RSAPrivateKey = keys.certificate_private_key
    serial = keys.platform_public_key_id

    def fake_post(url: str, **_: Any) -> _FakeAnswer:
        answer = '{"state":"SUCCESS"}'
        signed = notification_headers(other, serial, answer.encode(), int(time.time()), "ans-nonce")
        return _FakeAnswer(200, {**signed, "Content-Type": "application/json"}, answer)

    monkeypatch.setattr(requests, "post", fake_post)
    with pytest.raises(Exception, match="failed to verify the signature"):
        _sdk_core_public_key_mode(keys).request(TRANSFER_PATH, method=RequestType.POST, data={})
