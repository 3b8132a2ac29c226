"""The local HTTP front decodes path parameters as API Gateway does, and the signature still covers the
path as the mall sent it."""

from __future__ import annotations

import pytest

from fenxiao_local.client import OperatorClient, ShopClient
from tests.support.e2e import TOKEN, Running

pytestmark = pytest.mark.e2e


def test_an_encoded_path_parameter_reaches_the_handler_decoded(stack: Running) -> None:
    status, body = OperatorClient(stack.api, TOKEN).create_shop("paths", "Paths shop")
    assert status == 201, body
    shop = ShopClient(stack.api, "paths", body["api_secret"])
    assert shop.request("POST", shop.path("/members/m-a/inviter"), {"inviter_id": "m-b"})[0] == 201

    # signed over the path as sent (%2D), answered for the decoded id, as API Gateway does
    status, body = shop.request("GET", shop.path("/members/m%2Da"))
    assert status == 200, body
    assert body["member_id"] == "m-a"
    # the plain spelling is the same member
    assert shop.request("GET", shop.path("/members/m-a"))[1]["member_id"] == "m-a"

    # a signature over another path does not pass for this one
    headers = shop.signed_headers("GET", shop.path("/members/m-b"), b"")
    status, body = shop.request("GET", shop.path("/members/m%2Da"), headers=headers)
    assert status == 401, body
