"""First-response figures computed from aggregates (the DuckDB views do the same in SQL)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from domain.customer import Customer


@dataclass(frozen=True, slots=True)
class ChannelResponse:
    channel: str
    leads: int
    responded: int
    mean_response_hours: float | None  # over answered leads only


def first_response_by_channel(customers: Iterable[Customer]) -> list[ChannelResponse]:
    """Per first-touch channel: leads, how many were answered, mean hours to answer."""
    hours: dict[str, list[float]] = {}
    leads: dict[str, int] = {}
    for customer in customers:
        lead = customer.first_inbound
        if customer.merged_into is not None or lead is None:
            continue
        leads[lead.channel] = leads.get(lead.channel, 0) + 1
        response = customer.first_response
        if response is not None:
            hours.setdefault(lead.channel, []).append(_hours(lead.occurred_at, response.occurred_at))
    return [
        ChannelResponse(
            channel,
            leads[channel],
            len(hours.get(channel, [])),
            sum(hours[channel]) / len(hours[channel]) if hours.get(channel) else None,
        )
        for channel in sorted(leads)
    ]


def _hours(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600
