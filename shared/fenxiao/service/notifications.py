"""WeChat Pay API v3 notifications: verify, decrypt, store the fact once, nudge, answer.

Accept path (SPEC §7): the signature is checked over the raw body with the shop's platform key of the
given serial, the resource decrypted with the shop's APIv3 key, then the fact is written with ONE
conditional write keyed on its business identity (a payment's transaction_id, a refund's out_refund_no
and refund_id) and the order is nudged with ONE SQS message. No commission work happens before the answer.
A duplicate delivery finds the fact already there, writes nothing new and nudges again (harmless: the
consumer converges), which also covers a crash between the write and the send.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fenxiao.adapters import notifications as records
from fenxiao.adapters.orders import save_payment_fact, save_refund_fact
from fenxiao.adapters.shops import ShopModel
from fenxiao.bootstrap import Container
from fenxiao.domain.ids import is_id
from fenxiao.observability import count, logger
from fenxiao.service.orders import nudge
from fenxiao.service.shops import apiv3_key, find_shop, platform_keys
from fenxiao.timefmt import key, parse_rfc3339, rfc3339_from_key

RECORD_DAYS = 90
EVENT_BILL_FINISHED = "MCHTRANSFER.BILL.FINISHED"  # a transfer bill's final state, applied by service.payouts


class NotifyRejected(Exception):
    """Answered 401 {"code": "FAIL"}: unverifiable (unknown shop, bad signature, stale, undecryptable)."""


class NotifyMalformed(Exception):
    """Answered 400 {"code": "FAIL"}: verified, but not a notification we can read."""


@dataclass(frozen=True)
class Notification:
    """A verified, decrypted notification: the shop it is for, its event type, the resource and the envelope."""

    shop: ShopModel
    event_type: str
    data: dict[str, Any]
    envelope: dict[str, Any]


# ---------------------------------------------------------------- shop key material, cached briefly

_SHOP_TTL_SECONDS = 30.0


def _shop_material(c: Container, shop_id: str) -> tuple[ShopModel, dict[str, Any], str]:
    """(shop, platform keys by serial, APIv3 key), cached per container (``Container.notify_keys``) for 30 s.
    ``PUT settings/wechatpay`` forgets the shop in the container that served it, so there the new keys count
    at once; another warm container sees them within the 30 s (a key switch keeps both keys configured)."""
    return c.notify_keys.get(shop_id, _SHOP_TTL_SECONDS, lambda: _load_material(c, shop_id))


def _load_material(c: Container, shop_id: str) -> tuple[ShopModel, dict[str, Any], str]:
    shop = find_shop(shop_id)
    if shop is None or not shop.wx_mchid:
        raise NotifyRejected("unknown shop or WeChat Pay not configured")
    keys = {loaded.serial: loaded for loaded in platform_keys(shop)}
    return shop, keys, apiv3_key(c, shop)


# ---------------------------------------------------------------- the accept path


def verify(
    c: Container, shop_id: str, headers: Mapping[str, str], body: bytes, now: datetime
) -> Notification:
    """Verify and decrypt one notification (its handler is chosen by service.notify_handlers). Raises
    NotifyRejected / NotifyMalformed."""
    from fenxiao.adapters.wechatpay_crypto import WechatPayCryptoError, decrypt_resource, verify_notification

    if not is_id(shop_id):
        raise NotifyRejected("unknown shop")
    shop, keys, apiv3 = _shop_material(c, shop_id)
    try:
        verify_notification(headers, body, keys, now.timestamp())
    except WechatPayCryptoError as exc:
        count("NotificationsRejected", reason=type(exc).__name__)
        raise NotifyRejected(str(exc)) from None
    try:
        envelope = json.loads(body)
        resource = envelope["resource"]
        event_type = str(envelope["event_type"])
    except (ValueError, KeyError, TypeError, RecursionError):
        raise NotifyMalformed("the body is not a WeChat Pay notification") from None
    try:
        plaintext = decrypt_resource(resource, apiv3)
        data = json.loads(plaintext)
    except WechatPayCryptoError as exc:
        count("NotificationsRejected", reason=type(exc).__name__)
        raise NotifyRejected(str(exc)) from None
    except (ValueError, RecursionError):
        raise NotifyMalformed("the decrypted resource is not JSON") from None
    if not isinstance(data, dict):
        raise NotifyMalformed("the decrypted resource is not a JSON object")
    return Notification(shop, event_type, data, envelope)


def record(
    shop_id: str, envelope: Mapping[str, Any], outcome: str, now: datetime, summary: Any = None
) -> None:
    """Keep a notification that had no effect, for the operator: one record per notification id, written
    once (a redelivery keeps the first record and its received_at)."""
    records.save_once(
        shop_id,
        str(envelope.get("id", "unknown")),
        event_type=str(envelope.get("event_type", "")),
        outcome=outcome,
        summary=summary if summary is not None else {"summary": envelope.get("summary")},
        received_at=key(now),
        expires_at=int((now + timedelta(days=RECORD_DAYS)).timestamp()),
    )
    if outcome != "recorded":
        logger().warning("notification not applied", extra={"shop_id": shop_id, "outcome": outcome})


def _merchant_matches(shop: ShopModel, data: Mapping[str, Any], check_appid: bool) -> bool:
    if str(data.get("mchid", data.get("mch_id", ""))) != shop.wx_mchid:
        return False
    return not check_appid or str(data.get("appid", "")) == shop.wx_appid


def _amounts(data: Mapping[str, Any]) -> Mapping[str, Any]:
    amounts = data.get("amount")
    return amounts if isinstance(amounts, Mapping) else {}


def _amount(data: Mapping[str, Any], name: str) -> int:
    value = _amounts(data).get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise NotifyMalformed(f"amount.{name} is missing or not a non-negative integer")
    return value


def _success_time(data: Mapping[str, Any]) -> datetime:
    try:
        return parse_rfc3339(str(data.get("success_time")))
    except ValueError:
        raise NotifyMalformed("success_time is not an RFC 3339 time") from None


def _malformed(
    shop: ShopModel,
    envelope: Mapping[str, Any],
    now: datetime,
    ids: dict[str, Any],
    exc: NotifyMalformed,
) -> None:
    """A verified fact of a known type whose content is unusable (no amount, a bad success_time): recorded
    with its ids for the operator and acknowledged, like a fact with bad identifiers. WeChat Pay resends the
    same content, so a 4xx would only repeat it for a day and leave nothing to see."""
    count("NotificationsMalformed", event_type=str(envelope.get("event_type", "")))
    record(shop.shop_id, envelope, "not_applied:malformed", now, {**ids, "reason": str(exc)})


def _rejected(
    shop: ShopModel,
    data: Mapping[str, Any],
    envelope: Mapping[str, Any],
    now: datetime,
    ids: dict[str, Any],
    *,
    check_appid: bool,
    state_field: str,
) -> bool:
    """Record and report a verified fact that must not be applied (another merchant, not a success)."""
    if not _merchant_matches(shop, data, check_appid=check_appid):
        record(shop.shop_id, envelope, "not_applied:merchant_mismatch", now, ids)
        return True
    if data.get(state_field) != "SUCCESS":
        record(shop.shop_id, envelope, f"not_applied:{state_field}_{data.get(state_field)}", now, ids)
        return True
    return False


def on_transaction_success(
    c: Container, shop: ShopModel, data: dict[str, Any], envelope: dict[str, Any], now: datetime
) -> None:
    ids = {"transaction_id": data.get("transaction_id"), "out_trade_no": data.get("out_trade_no")}
    if _rejected(shop, data, envelope, now, ids, check_appid=True, state_field="trade_state"):
        return
    order_id = str(data.get("out_trade_no", ""))
    transaction_id = str(data.get("transaction_id", ""))
    if not is_id(order_id) or not transaction_id or len(transaction_id) > 64:
        record(shop.shop_id, envelope, "not_applied:bad_identifiers", now, ids)
        return
    try:
        success_time = _success_time(data)
        total_fen = _amount(data, "total")
        payer_total_fen = _amount(data, "payer_total") if "payer_total" in _amounts(data) else total_fen
    except NotifyMalformed as exc:
        _malformed(shop, envelope, now, ids, exc)
        return
    save_payment_fact(
        shop.shop_id,
        order_id,
        transaction_id=transaction_id,
        total_fen=total_fen,
        payer_total_fen=payer_total_fen,
        success_time=key(success_time),
        mchid=shop.wx_mchid,
        appid=shop.wx_appid,
        received_at=key(now),
    )
    nudge(c, shop.shop_id, order_id)


def on_refund_success(
    c: Container, shop: ShopModel, data: dict[str, Any], envelope: dict[str, Any], now: datetime
) -> None:
    ids = {
        "refund_id": data.get("refund_id"),
        "out_refund_no": data.get("out_refund_no"),
        "out_trade_no": data.get("out_trade_no"),
    }
    if _rejected(shop, data, envelope, now, ids, check_appid=False, state_field="refund_status"):
        return
    order_id = str(data.get("out_trade_no", ""))
    out_refund_no = str(data.get("out_refund_no", ""))
    refund_id = str(data.get("refund_id", ""))
    if not is_id(order_id) or not is_id(out_refund_no) or not refund_id:
        record(shop.shop_id, envelope, "not_applied:bad_identifiers", now, ids)
        return
    try:
        success_time = _success_time(data)
        amount_fen = _amount(data, "refund")
    except NotifyMalformed as exc:
        _malformed(shop, envelope, now, ids, exc)
        return
    saved = save_refund_fact(
        shop.shop_id,
        order_id,
        out_refund_no=out_refund_no,
        refund_id=refund_id,
        amount_fen=amount_fen,
        success_time=key(success_time),
        received_at=key(now),
    )
    if not saved:
        record(shop.shop_id, envelope, "not_applied:out_refund_no_reused", now, ids)
        return
    nudge(c, shop.shop_id, order_id)


@dataclass(frozen=True)
class RecordedPage:
    """One page of a shop's recorded notifications and the key to go on from (None: the end)."""

    shop_id: str
    entries: list[dict[str, Any]]
    last_key: dict[str, Any] | None


def recorded_scope(shop_id: str) -> dict[str, str]:
    """What a cursor of the shop's recorded notifications must name."""
    return records.page_scope(shop_id)


def recorded(shop_id: str, start: dict[str, Any] | None, limit: int) -> RecordedPage:
    """The operator's view of a shop's notifications that had no effect, one page from ``start``. Entries
    come in descending notification id order (the sort key is the id, which makes a redelivery one record);
    WeChat Pay's ids are not time-ordered, so this is NOT newest first: each entry carries its received_at."""
    found, last_key = records.page(shop_id, start, limit)
    entries = [
        {
            "id": records.notification_id(n),
            "event_type": n.event_type,
            "outcome": n.outcome,
            "summary": n.summary,
            "received_at": rfc3339_from_key(n.received_at),
        }
        for n in found
    ]
    return RecordedPage(shop_id, entries, last_key)
