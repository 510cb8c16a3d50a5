"""What a tool costs: its rate card (per run, per output, per GPU-second, in USD).

The prompt log prices every run from its tool's rate card unless the vendor
reports what the run cost. Rate cards are business terms agreed with a vendor,
so they are set by the people who record vendors' attestations: legal (business
affairs) or a platform admin.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, bindparam, insert, select, update

from greenlight.accounts import Access
from greenlight.core.clock import utcnow
from greenlight.core.ids import is_id
from greenlight.rights import get_tool
from greenlight.store.schema import tool_rate_cards

_PRICE = Field(default=None, ge=0, le=Decimal("999999.999999"), decimal_places=6)


class RateCardDraft(BaseModel):
    """Prices for one tool, in USD; a part left out (null) costs nothing."""

    model_config = ConfigDict(extra="forbid")

    per_run_usd: Decimal | None = _PRICE
    per_output_usd: Decimal | None = _PRICE
    per_gpu_second_usd: Decimal | None = _PRICE


class RateCard(RateCardDraft):
    """A tool's rate card as recorded."""

    tool_id: str
    updated_at: datetime
    updated_by: str | None

    def price(self, *, outputs: int, gpu_seconds: Decimal) -> Decimal:
        """What one run with ``outputs`` outputs and ``gpu_seconds`` of GPU time costs."""
        total = self.per_run_usd or Decimal(0)
        total += (self.per_output_usd or Decimal(0)) * outputs
        total += (self.per_gpu_second_usd or Decimal(0)) * gpu_seconds
        return total.quantize(Decimal("0.000001"))


# Built once: every finished run is priced.
_RATE_CARD = select(tool_rate_cards).where(tool_rate_cards.c.tool_id == bindparam("tool"))


def get_rate_card(conn: Connection, tool_id: str) -> RateCard | None:
    """The tool's rate card, or None when no price was agreed."""
    row = conn.execute(_RATE_CARD, {"tool": tool_id}).mappings().first()
    return RateCard.model_validate(dict(row)) if row is not None else None


def set_rate_card(conn: Connection, access: Access, tool_id: str, draft: RateCardDraft) -> RateCard:
    """Record (or replace) a tool's rate card: legal or a platform admin."""
    access.require_vendor_oversight()
    get_tool(conn, tool_id)  # NotFound for an unknown tool
    values = {
        **draft.model_dump(),
        "updated_at": utcnow(),
        # The CLI's operator is nobody in the people table.
        "updated_by": access.person.id if is_id(access.person.id, "person") else None,
    }
    found = conn.execute(
        update(tool_rate_cards).where(tool_rate_cards.c.tool_id == tool_id).values(**values)
    )
    if found.rowcount == 0:
        conn.execute(insert(tool_rate_cards).values(tool_id=tool_id, **values))
    return RateCard(tool_id=tool_id, **values)
