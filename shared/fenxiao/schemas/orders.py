"""An order as the mall registers it, and a refund's split across its lines (SPEC §3).

The rules across fields are the domain's (``domain.refunds``): the same functions hold at the door and
inside."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from fenxiao.domain.errors import InvalidInput
from fenxiao.domain.refunds import OrderLine, unique_line_ids, validate_lines
from fenxiao.schemas.common import Fen, FieldError, Identifier, Strict


class OrderLineIn(Strict):
    line_id: Identifier
    product_id: Identifier
    quantity: Annotated[int, Field(ge=1, le=100000)]
    paid_fen: Fen


class OrderIn(Strict):
    buyer_id: Identifier
    lines: Annotated[list[OrderLineIn], Field(min_length=1, max_length=100)]
    shipping_fen: Fen
    total_fen: Fen

    def order_lines(self) -> list[OrderLine]:
        return [OrderLine(li.line_id, li.product_id, li.quantity, li.paid_fen) for li in self.lines]

    @model_validator(mode="after")
    def _consistent(self) -> OrderIn:
        try:
            validate_lines(self.order_lines(), self.shipping_fen, self.total_fen)
        except InvalidInput as exc:
            raise FieldError(exc.field or "lines", exc.message) from None
        return self


class RefundLineIn(Strict):
    line_id: Identifier
    refund_fen: Annotated[int, Field(ge=1, le=10**12)]


class RefundSplitIn(Strict):
    lines: Annotated[list[RefundLineIn], Field(min_length=1, max_length=100)]

    def entries(self) -> list[tuple[str, int]]:
        """``[(line_id, refund_fen), ...]`` as ``domain.refunds.parse_split`` takes them."""
        return [(line.line_id, line.refund_fen) for line in self.lines]

    @model_validator(mode="after")
    def _unique(self) -> RefundSplitIn:
        try:
            unique_line_ids([line.line_id for line in self.lines])
        except InvalidInput as exc:
            raise FieldError(exc.field or "lines", exc.message) from None
        return self
