"""What the open-vocabulary built-ins would find on the real revisions, as a rule (issue 9, item 4).

The packaged rules do not name @names_new_party / @names_new_country yet. This runs the judge over
../shared/real-revisions with the packaged rules plus one rule per built-in placed first (so nothing
answers before it), and prints every pair where one fires with the name it found, next to the pair's
labelled severity; then the count of pairs and names. A rule author reads it to see what the built-ins
would add and what noise they bring before wiring them into rules/<language>.toml.

usage: python bench/open_vocabulary.py [DIR]
"""

from __future__ import annotations

import re
import sys
import time
import tomllib
from pathlib import Path

from watcher.diff import diff_clauses
from watcher.extract import load_file
from watcher.judge.classify import classify
from watcher.judge.rules import RULES_DIR, parse_rules
from watcher.normalize import language
from watcher.segment import segment

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "real-revisions"
RULE = """[[rule]]
id = "bench-{name}"
topics = ["*"]
topics_not = ["contact", "controller", "revision", "metadata"]
change = ["added", "gained", "clause_added"]
unit_any = ["{builtin}"]
category = "tracking_changed"
severity = "notice"
reason = "{name}:"
  [[rule.adjust]]
  if_present = ["{builtin}"]
  severity = "notice"
  reason = ""

"""
BUILT_INS = {"party": "@names_new_party", "country": "@names_new_country"}


def rules_with_built_ins(language: str):
    text = (RULES_DIR / f"{language}.toml").read_text(encoding="utf-8")
    at = re.search(r"(?m)^\[\[rule\]\]", text).start()
    extra = "".join(RULE.format(name=n, builtin=b) for n, b in BUILT_INS.items())
    return parse_rules(text[:at] + extra + text[at:], f"{language}.toml + open vocabulary", compile_now=False)


def main() -> int:
    base = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    labels_file = base / "labels-dev.toml"
    labels = tomllib.loads(labels_file.read_text(encoding="utf-8")) if labels_file.exists() else {}
    rules = {lang: rules_with_built_ins(lang) for lang in ("ja", "en")}
    pairs_hit, names, t0 = 0, 0, time.perf_counter()
    pairs = sorted(p for p in base.iterdir() if p.is_dir())
    for d in pairs:
        old_doc, new_doc = load_file(next(d.glob("before.*"))), load_file(next(d.glob("after.*")))
        old, new = segment(old_doc), segment(new_doc)
        lang = language(new_doc.text or old_doc.text)      # as compare() decides it
        changes, _ = diff_clauses(old, new)
        found = sorted({reason.split(":", 1)[0] + ": " + reason.rsplit("[", 1)[-1].rstrip("]")
                        for v in classify(changes, old, new, lang, rules=rules[lang])
                        for reason in v.reasons if reason.startswith(tuple(f"{n}:" for n in BUILT_INS))})
        if found:
            pairs_hit += 1
            names += len(found)
            label = labels.get(d.name, {}).get("severity", "-")
            print(f"{d.name[:52]:52} label {'|'.join(label) if isinstance(label, list) else label:14} {'; '.join(found)}")
    print(f"{len(pairs)} pairs, {pairs_hit} with a new party or country named outside the lexicons, {names} names, "
          f"{time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
