"""Reading the REF of `NAME@REF` as a time (the version in force at the end of a local day)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def parse_ref_time(ref: str) -> datetime | None:
    """The end of the referenced local day (exclusive), or the exact time; as naive UTC."""
    try:
        if len(ref) == 10:
            day = datetime.strptime(ref, "%Y-%m-%d")
            local = (day + timedelta(days=1)).astimezone()
        else:
            parsed = datetime.fromisoformat(ref)
            local = parsed if parsed.tzinfo else parsed.astimezone()
            local = local + timedelta(microseconds=1)   # "at that time" includes it
    except ValueError:
        return None
    return local.astimezone(UTC).replace(tzinfo=None)
