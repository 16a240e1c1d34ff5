"""The labelled corpus pairs: compare() -> report_to_dict() must give the verdict in expected.toml.

Same checks as shared/tools/score_corpus.py (severity, material, categories, forbid,
max_substantive, notify.users per users_when), run in-process, plus: every substantive
change carries a reason and evidence.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from watcher.compare import compare
from watcher.extract import load_file
from watcher.report import report_to_dict

CORPUS = Path(__file__).resolve().parent / "data" / "corpus"   # a copy of ../shared/corpus
PAIRS = sorted(p for sub in ("pairs", "html-pairs") for p in (CORPUS / sub).glob("d*") if p.is_dir()) \
    if CORPUS.exists() else []


def _file(pair: Path, stem: str) -> Path:
    for ext in ("html", "txt", "md"):
        if (pair / f"{stem}.{ext}").exists():
            return pair / f"{stem}.{ext}"
    raise FileNotFoundError(pair / stem)


def corpus_errors(exp: dict, out: dict) -> list[str]:
    """shared/tools/score_corpus.py's check(), on a report dict."""
    errs = []
    sev = out["severity"]
    accepted = [exp["severity"]] if isinstance(exp["severity"], str) else exp["severity"]
    if sev not in accepted:
        errs.append(f"severity {sev} not in {accepted}")
    if "material" in exp and out["material"] != exp["material"]:
        errs.append(f"material {out['material']} != {exp['material']}")
    cats = {c for ch in out["changes"] for c in ch["categories"]}
    for need in exp.get("categories", []):
        if not any(alt in cats for alt in need.split("|")):
            errs.append(f"missing category {need} (got {sorted(cats)})")
    for bad in exp.get("forbid", []):
        if bad in cats:
            errs.append(f"forbidden category {bad}")
    subst = sum(1 for ch in out["changes"] if ch["severity"] != "none")
    if subst > exp.get("max_substantive", 99):
        errs.append(f"{subst} substantive changes > {exp['max_substantive']}")
    want_users = exp.get("users_when", {}).get(sev, False) if sev in ("consent", "notice") else False
    if out["notify"]["users"] != want_users:
        errs.append(f"notify.users {out['notify']['users']} != {want_users}")
    if "notify_users" in exp and out["notify"]["users"] != exp["notify_users"]:
        errs.append(f"notify.users {out['notify']['users']} != notify_users {exp['notify_users']}")
    return errs


def test_corpus_is_there():
    assert len(PAIRS) == 20, f"expected the 20 labelled pairs under {CORPUS}, found {len(PAIRS)}"


@pytest.mark.parametrize("pair", PAIRS, ids=[f"{p.parent.name}/{p.name}" for p in PAIRS])
def test_pair_verdict(pair: Path):
    exp = tomllib.loads((pair / "expected.toml").read_text(encoding="utf-8"))
    report = compare(load_file(_file(pair, "old")), load_file(_file(pair, "new")))
    out = report_to_dict(report)
    assert corpus_errors(exp, out) == []
    for ch in out["changes"]:
        if ch["severity"] == "none":
            continue
        assert ch["reasons"], ch
        assert ch["evidence"], f"{ch['categories']} without evidence"
    # Staff hear of every substantive change and nothing else.
    assert out["notify"]["staff"] == (out["severity"] != "none")
