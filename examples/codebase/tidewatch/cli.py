"""The `tidewatch` command line."""

from __future__ import annotations

import sys
from datetime import datetime

from tidewatch.tides import next_high, next_low


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] == "next":
        now = datetime.now()
        print(f"high {next_high(now):%H:%M}  low {next_low(now):%H:%M}")
        return 0
    print(f"unknown command {args[0]!r}; try: next", file=sys.stderr)
    return 2
