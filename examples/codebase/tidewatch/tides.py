"""Tide arithmetic. Tides at Harrowgate Quay follow a 12 hour 25 minute cycle."""

from __future__ import annotations

from datetime import datetime, timedelta

CYCLE = timedelta(hours=12, minutes=25)
# A known high tide, from the harbour office's 2024 table.
EPOCH_HIGH = datetime(2024, 1, 1, 4, 12)


def next_high(now: datetime) -> datetime:
    """The first high tide at or after ``now``."""
    cycles = -(-(now - EPOCH_HIGH) // CYCLE)  # ceiling division
    return EPOCH_HIGH + cycles * CYCLE


def next_low(now: datetime) -> datetime:
    """Low tide falls halfway between two high tides."""
    low = next_high(now) - CYCLE / 2
    return low if low >= now else low + CYCLE
