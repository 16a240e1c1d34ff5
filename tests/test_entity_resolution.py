"""Entity resolution across versions (issue 9, item 4): a party's slot that changes name is a rename when the
text says so or its seat and representative stay; a new name with a new seat or representative is a new party,
and the reason names it. The verdicts themselves are the cases ja132-ja136 and en88-en91 (test_classify)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_classify import load_case, run

CASE_DIR = Path(__file__).parent / "cases"


def _verdict(case_name: str) -> tuple[str, str]:
    """(severity, every reason of its substantive changes joined) of the case file named case_name-*.toml."""
    path = next(CASE_DIR.glob(case_name + "-*.toml"))
    case, old, new, suffix = load_case(path)
    out = run(old, new, suffix)
    reasons = " ".join(str(r) for ch in out["changes"] if ch["severity"] != "none" for r in ch["reasons"])
    return out["severity"], reasons


@pytest.mark.parametrize("case_name, entity", [
    ("ja133", "株式会社ベイサイド総研"),
    ("ja135", "株式会社オーシャンリンク"),
    ("en89", "Redwood Retail Inc"),
])
def test_a_new_party_is_notice_and_its_reason_names_it(case_name, entity):
    severity, reasons = _verdict(case_name)
    assert severity == "notice"
    assert entity in reasons


@pytest.mark.parametrize("case_name, shown", [
    ("en88", "Northwind Media Ltd"),                              # "formerly known as"
    ("en90", "Northwind Books Ltd → Northwind Media Ltd"),        # the same address and representative
    ("ja134", "株式会社ミナトフィットネス → 株式会社ミナトウェルネス"),
])
def test_a_rename_is_minor_and_its_reason_shows_the_name(case_name, shown):
    severity, reasons = _verdict(case_name)
    assert severity == "minor"
    assert shown in reasons
