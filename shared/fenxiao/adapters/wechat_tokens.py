"""The shared WeChat access token of each mini-program appid: one item in ShopsTable under ``WXTOKEN#{appid}``
(shop ids are mall ids, which never hold ``#``, so the keys never meet; the item has no ``kind``, so the
AllShops index never sees it). Every write is conditional on ``version`` (see
``wechat_miniprogram.AccessTokens``). The token is a bearer credential valid for two hours: it is stored as
WeChat gives it, like the AWS session credentials a Lambda holds in memory, and never logged or answered."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from fenxiao.adapters.dynamo import TableMeta, written
from fenxiao.adapters.tables import bind
from fenxiao.adapters.wechat_miniprogram import StoredToken


def token_key(appid: str) -> str:
    return f"WXTOKEN#{appid}"


class WechatTokenModel(Model):
    class Meta(TableMeta):
        pass

    shop_id = UnicodeAttribute(hash_key=True)  # WXTOKEN#{appid}
    token = UnicodeAttribute(default="")
    expires_at = NumberAttribute(default=0)
    version = NumberAttribute(default=0)
    claimed_until = NumberAttribute(default=0)


class DynamoTokenStore:
    """``wechat_miniprogram.TokenStore`` on DynamoDB: strongly consistent reads, conditional writes."""

    def read(self, appid: str) -> StoredToken | None:
        try:
            item = WechatTokenModel.get(token_key(appid), consistent_read=True)
        except WechatTokenModel.DoesNotExist:
            return None
        return StoredToken(item.token, float(item.expires_at), int(item.version), float(item.claimed_until))

    def claim(self, appid: str, version: int | None, until: float) -> int | None:
        new = (version or 0) + 1
        if version is None:
            claimed = written(
                lambda: WechatTokenModel(token_key(appid), version=new, claimed_until=until).save(
                    condition=WechatTokenModel.shop_id.does_not_exist()
                )
            )
        else:
            claimed = written(
                lambda: WechatTokenModel(token_key(appid)).update(
                    actions=[WechatTokenModel.version.set(new), WechatTokenModel.claimed_until.set(until)],
                    condition=WechatTokenModel.version == version,
                )
            )
        return new if claimed else None

    def put(self, appid: str, token: str, expires_at: float, version: int) -> bool:
        return written(
            lambda: WechatTokenModel(token_key(appid)).update(
                actions=[
                    WechatTokenModel.token.set(token),
                    WechatTokenModel.expires_at.set(expires_at),
                    WechatTokenModel.version.set(version + 1),
                    WechatTokenModel.claimed_until.set(0),
                ],
                condition=WechatTokenModel.version == version,
            )
        )

    def invalidate(self, appid: str, token: str) -> None:
        written(  # False: the token was replaced already, which is what invalidating wants
            lambda: WechatTokenModel(token_key(appid)).update(
                actions=[WechatTokenModel.expires_at.set(0), WechatTokenModel.version.add(1)],
                condition=WechatTokenModel.token == token,
            )
        )


# Last, after every subclass: the tables this module's models are stored in.
bind(WechatTokenModel, "shops_table")
