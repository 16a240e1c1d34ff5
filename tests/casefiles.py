"""Reading the classification cases in tests/cases/*.toml (shared by the classify tests).

A case names a base policy in tests/cases/bases/, optional `base_edits` applied to both
versions (to set up a variant of the base), and `edits` applied to the new version only.
Each edit's `find` must occur exactly once, so a case cannot silently stop testing anything.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

CASES = Path(__file__).parent / "cases"
SEVERITIES = ["none", "minor", "notice", "consent"]


def case_files() -> list[Path]:
    return sorted(CASES.glob("*.toml"))


def apply_edits(text: str, edits: list[dict], where: str) -> str:
    for edit in edits:
        count = text.count(edit["find"])
        if count != 1:
            raise AssertionError(f"{where}: edit text found {count} times, expected once: {edit['find'][:40]!r}")
        text = text.replace(edit["find"], edit["replace"])
    return text


def load_case(path: Path) -> tuple[dict, str, str, str]:
    """(expectation, old text, new text, base file suffix)."""
    case = tomllib.loads(path.read_text(encoding="utf-8"))
    base = CASES / "bases" / case["base"]
    old = apply_edits(base.read_text(encoding="utf-8"), case.get("base_edits", []), path.name)
    new = apply_edits(old, case.get("edits", []), path.name)
    if old == new:
        raise AssertionError(f"{path.name}: the edits change nothing")
    return case, old, new, base.suffix


def check_report(case: dict, out: dict) -> list[str]:
    """Mismatches between a case's expectation and a report dict (report_to_dict)."""
    errs = []
    want = case["severity"]
    accepted = [want] if isinstance(want, str) else want
    if out["severity"] not in accepted:
        errs.append(f"severity {out['severity']} not in {accepted}")
    cats = {c for ch in out["changes"] for c in ch["categories"]}
    for need in case.get("categories", []):
        if not any(alt in cats for alt in need.split("|")):
            errs.append(f"missing category {need} (got {sorted(cats)})")
    for bad in case.get("forbid", []):
        if bad in cats:
            errs.append(f"forbidden category {bad}")
    subst = sum(1 for ch in out["changes"] if ch["severity"] != "none")
    if subst > case.get("max_substantive", 99):
        errs.append(f"{subst} substantive changes > {case['max_substantive']}")
    if "users" in case and out["notify"]["users"] != case["users"]:
        errs.append(f"notify.users {out['notify']['users']} != {case['users']}")
    for action in case.get("actions", []):
        if action not in out["notify"]["actions"]:
            errs.append(f"missing action {action} (got {out['notify']['actions']})")
    notes = " ".join(out["notify"]["notes"])
    for note in case.get("notes", []):
        if note not in notes:
            errs.append(f"no note containing {note!r} (got {out['notify']['notes']})")
    for ch in out["changes"]:
        if ch["severity"] != "none":
            if not ch["reasons"]:
                errs.append(f"change {ch['new'] or ch['old']} has no reason")
    return errs
