"""A `watch diff` whose edits are formatting only loads no language model (issue 9, speed).

Meaning keys need SudachiPy's dictionary only for a sentence whose comparison key changed; a diff
of reflowed lines, full-width digits and spaces never asks for one. Each diff runs in a new
interpreter, as a user runs it, and reports the top-level modules it imported (bench/judge_speed.py
prints the times).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from watcher.judge.meaning import sudachi_available

ROOT = Path(__file__).resolve().parents[1]
PAIRS = ROOT / "tests" / "data" / "corpus" / "pairs"
LANGUAGE_MODULES = {"sudachipy", "sudachidict_core", "simplemma", "spacy", "ginza", "ja_ginza"}
ENGLISH = ROOT / "tests" / "cases" / "bases" / "bookstore_en.md"
PROBE = """
import json, runpy, sys
sys.argv = ["watch"] + sys.argv[1:]
code = 0
try:
    runpy.run_module("watcher.cli", run_name="__main__")
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted({m.split(".")[0] for m in sys.modules})}), file=sys.stderr)
"""
_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def diff_process(old: Path, new: Path, cwd: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, "diff", str(old), str(new), "--format", "json"],
                          capture_output=True, text=True, cwd=cwd, timeout=120)
    seen = json.loads(done.stderr.strip().splitlines()[-1])
    seen["report"] = json.loads(done.stdout)
    return seen


def test_a_reflowed_seed_pair_loads_no_language_model(tmp_path):
    pair = PAIRS / "d02-enmono-reflow-width"
    seen = diff_process(pair / "old.txt", pair / "new.txt", tmp_path)
    assert seen["report"]["severity"] == "none"
    assert LANGUAGE_MODULES & set(seen["modules"]) == set()


def test_digit_width_spaces_and_line_breaks_load_no_language_model(tmp_path):
    old = PAIRS / "d01-enmono-purpose-ad-targeting" / "old.txt"
    text = old.read_text(encoding="utf-8")
    reformatted = text.translate(_FULL_WIDTH).replace("、", "、 ").replace("。", "。\n")
    assert reformatted != text
    new = tmp_path / "new.txt"
    new.write_text(reformatted, encoding="utf-8")
    seen = diff_process(old, new, tmp_path)
    assert seen["report"]["severity"] == "none", seen["report"]["changes"][:1]
    assert LANGUAGE_MODULES & set(seen["modules"]) == set()


@pytest.mark.skipif(not sudachi_available(), reason="SudachiPy's dictionary is not installed")
def test_a_real_change_loads_the_dictionary(tmp_path):
    """The probe sees the dictionary when a sentence's meaning must be read (so the tests above can fail)."""
    pair = PAIRS / "d01-enmono-purpose-ad-targeting"
    seen = diff_process(pair / "old.txt", pair / "new.txt", tmp_path)
    assert seen["report"]["severity"] == "consent"
    assert "sudachipy" in seen["modules"]


def test_an_english_policy_reflowed_loads_no_lemmatizer_and_a_real_change_does(tmp_path):
    text = ENGLISH.read_text(encoding="utf-8")
    reflowed = tmp_path / "reflowed.md"
    reflowed.write_text(text.replace(". ", ".  "), encoding="utf-8")
    assert reflowed.read_text(encoding="utf-8") != text
    seen = diff_process(ENGLISH, reflowed, tmp_path)
    assert seen["report"]["severity"] == "none"
    assert LANGUAGE_MODULES & set(seen["modules"]) == set()
    changed = tmp_path / "changed.md"
    changed.write_text(text.replace("- where required by law", "- where required by law\n"
                                    "- with our advertising partners, who receive your order history"), encoding="utf-8")
    seen = diff_process(ENGLISH, changed, tmp_path)
    assert seen["report"]["severity"] != "none" and "simplemma" in seen["modules"]
