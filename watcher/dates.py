"""Dates as policies write them: 2026年6月1日, 令和8年6月1日, 2026-06-01, June 1, 2026, 1 June 2026.

One pattern for the segmenter (date / 改定履歴 lines) and the mails (the effective date)."""

from __future__ import annotations

import re

_ERA = r"(?:令和|平成|昭和)\s*(?:元|[0-9０-９]{1,2})"
_MONTHS = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
_DATE = (rf"(?:(?:[0-9０-９]{{4}}|{_ERA})\s*年\s*[0-9０-９]{{1,2}}\s*月(?:\s*[0-9０-９]{{1,2}}\s*日)?"
         rf"|[0-9]{{4}}[./-][0-9]{{1,2}}[./-][0-9]{{1,2}}"
         rf"|{_MONTHS}\s+\d{{1,2}},?\s+\d{{4}}"
         rf"|\d{{1,2}}\s+{_MONTHS}\s+\d{{4}})")
DATE_RE = re.compile(_DATE, re.I)


def last_date(text: str) -> str | None:
    """The last date written in `text` (a Japanese one without its inner spaces), or None."""
    found = DATE_RE.findall(text)
    if not found:
        return None
    return re.sub(r"\s+", "", found[-1]) if "年" in found[-1] else found[-1]
