"""An order as the mall registers it, and a refund's split across its lines (SPEC §3)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

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

    @model_validator(mode="after")
    def _consistent(self) -> OrderIn:
        ids = [line.line_id for line in self.lines]
        if len(set(ids)) != len(ids):
            raise FieldError("lines", "line_id values must be unique")
        if sum(line.paid_fen for line in self.lines) + self.shipping_fen != self.total_fen:
            raise FieldError("total_fen", "must equal the sum of lines' paid_fen plus shipping_fen")
        return self


class RefundLineIn(Strict):
    line_id: Identifier
    refund_fen: Annotated[int, Field(ge=1, le=10**12)]


class RefundSplitIn(Strict):
    lines: Annotated[list[RefundLineIn], Field(min_length=1, max_length=100)]

    @model_validator(mode="after")
    def _unique(self) -> RefundSplitIn:
        ids = [line.line_id for line in self.lines]
        if len(set(ids)) != len(ids):
            raise FieldError("lines", "line_id values must be unique")
        return self
