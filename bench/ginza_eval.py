"""What GiNZA (ja-ginza 5.3, a spaCy pipeline with NER) costs and what it buys on the real revisions (issue 9, item 4).

Two interpreters take part, because GiNZA is evaluated in a scratch venv, not in the project's:

  1. the project's .venv (`--dump FILE`): runs `watch diff`'s pipeline over the Japanese pairs of
     ../shared/real-revisions and writes, for every changed item of a change that is not `none`, the
     sentences whose meaning changed (gained or lost: watcher.judge.meaning.changed_sentences), the
     lexicon matches the rules already find in each (organisations, services, places, data items),
     and the proper nouns SudachiPy's POS marks (名詞,固有名詞: 組織名 / 人名 / 地名 / 一般);
  2. the GiNZA venv (default): measures import + spacy.load("ja_ginza") time, RSS before and after,
     ms per sentence on those sentences, and lists the entities GiNZA's NER finds that no lexicon
     match covers, by label, next to what SudachiPy's proper nouns already give for the same spans.

usage: /tmp/ginza-venv/bin/python bench/ginza_eval.py [--project-python .venv/bin/python]
       .venv/bin/python bench/ginza_eval.py --dump sentences.json   (step 1 alone)
"""

from __future__ import annotations

import argparse
import importlib
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "real-revisions"
# The lexicons that name who receives data, where it goes, and what it is: what "the closed lists" find.
LEXICONS = ("trackers", "company_names", "foreign_places", "adequate_places", "recipients", "external_recipient",
            "joint_parties", "recipient_roles", "group_member", "data_terms", "sensitive")
# GiNZA's (ENE) labels that are organisations, services/products, countries/places, or data-ish kinds.
WANTED = {"Company", "Corporation_Other", "Organization_Other", "International_Organization", "Political_Organization",
          "Government", "Show_Organization", "Product_Other", "Service", "Offense", "Country", "Province",
          "City", "GPE_Other", "Location_Other", "Name_Other", "Title_Other", "Position_Vocation", "Domestic_Region",
          "Family", "Person", "ORG", "GPE", "PRODUCT", "NORP", "LOC"}


def _watcher(name: str):
    """A module of the project, imported by name: this file also runs under the GiNZA venv, which has no watcher."""
    return importlib.import_module(name)


def dump(out: Path) -> None:
    compare = _watcher("watcher.compare")
    extract = _watcher("watcher.extract")
    report_mod = _watcher("watcher.report")
    meaning = _watcher("watcher.judge.meaning")
    entities = _watcher("watcher.judge.entities")
    rules = _watcher("watcher.judge.rules").load_rules("ja")
    tok = meaning._tokenizer()
    rows, texts = [], {}
    for d in sorted(p for p in REAL.iterdir() if p.is_dir()):
        before, after = next(d.glob("before.*")), next(d.glob("after.*"))
        report = report_mod.report_to_dict(compare.compare(extract.load_file(before), extract.load_file(after)))
        if report["language"] != "ja":
            continue
        texts[d.name] = {"old": before.read_text(encoding="utf-8"), "new": after.read_text(encoding="utf-8")}
        for change in report["changes"]:
            if change["severity"] == "none":
                continue
            for item in change["items"]:
                diff = meaning.changed_sentences(item.get("old_text") or "", item.get("text") or "", rules, None, None)
                for side, sents in (("gained", diff.gained), ("lost", diff.lost)):
                    for s in sents:
                        if not meaning._JA_RUN.search(s):
                            continue
                        found = sorted({(m.start(), m.end(), lex) for lex in LEXICONS for m in rules.finditer(lex, s)})
                        proper = [(m.begin(), m.end(), "/".join(p for p in m.part_of_speech()[2:4] if p != "*"))
                                  for m in tok.tokenize(s[:meaning.TOKENIZE_MAX_CHARS])
                                  if m.part_of_speech()[1] == "固有名詞"]
                        parties = {(e.start, e.end) for e in entities.party_names(s, rules)}
                        shape = [(e.start, e.end, e.kind, e.text) for e in entities.entities(s, rules)
                                 if e.kind == entities.COUNTRY or (e.start, e.end) in parties]
                        rows.append({"pair": d.name, "side": side, "sentence": s, "lexicon": found, "sudachi": proper,
                                     "shape": shape, "category": change["categories"]})
    out.write_text(json.dumps({"rows": rows, "texts": texts}, ensure_ascii=False), encoding="utf-8")
    print(f"{len(rows)} changed sentences in {len({r['pair'] for r in rows})} Japanese pairs -> {out}", file=sys.stderr)


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def covered(start: int, end: int, spans) -> bool:
    return any(s < end and start < e for s, e, *_ in spans)


def new_in_pair(text: str, row: dict, versions: dict) -> bool:
    """The name is not in the other version of the pair: a candidate new party, not one described again."""
    other = versions[row["pair"]]["old" if row["side"] == "gained" else "new"]
    return text.strip() not in other


def evaluate(dumped: dict) -> None:
    rows, versions = dumped["rows"], dumped["texts"]
    before_rss = rss_mb()
    t0 = time.perf_counter()
    spacy = importlib.import_module("spacy")
    t_import = time.perf_counter() - t0
    nlp = spacy.load("ja_ginza")
    t_load = time.perf_counter() - t0
    loaded_rss = rss_mb()
    texts = [r["sentence"] for r in rows]
    nlp(texts[0])      # first call allocates
    times, docs = [], []
    for text in texts:
        t1 = time.perf_counter()
        docs.append(nlp(text))
        times.append((time.perf_counter() - t1) * 1000)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    chars = sum(len(t) for t in texts)
    print("GiNZA cost (ja-ginza 5.3.0, spaCy pipeline, CPU):")
    print(f"  import spacy {t_import:.2f} s, import + spacy.load('ja_ginza') {t_load:.2f} s (one process, after a warm page cache)")
    print(f"  RSS {before_rss:.0f} MB before, {loaded_rss:.0f} MB with the model, peak {peak:.0f} MB")
    print(f"  {len(texts)} changed sentences ({chars / max(1, len(texts)):.0f} chars on average): "
          f"median {statistics.median(times):.1f} ms, p90 {sorted(times)[int(len(times) * 0.9)]:.1f} ms, "
          f"max {max(times):.0f} ms per sentence, {sum(times) / 1000:.1f} s in all")
    labels, new_by_label, sudachi_too = Counter(), Counter(), Counter()
    examples: dict[str, list[str]] = {}
    candidates: dict[tuple[str, str], set[str]] = {}
    for row, doc in zip(rows, docs, strict=True):
        for ent in doc.ents:
            labels[ent.label_] += 1
            if ent.label_ not in WANTED or covered(ent.start_char, ent.end_char, row["lexicon"]):
                continue
            new_by_label[ent.label_] += 1
            if new_in_pair(ent.text, row, versions):
                candidates.setdefault((ent.label_, ent.text), set()).add(row["pair"][:3])
            if covered(ent.start_char, ent.end_char, row["sudachi"]):
                sudachi_too[ent.label_] += 1
            examples.setdefault(ent.label_, [])
            if len(examples[ent.label_]) < 6 and ent.text not in examples[ent.label_]:
                examples[ent.label_].append(ent.text)
    print("GiNZA's entities in those sentences, by label:", ", ".join(f"{k} {v}" for k, v in labels.most_common(20)))
    print("organisation / service / place / person entities no lexicon match covers "
          "(of them, also a SudachiPy 固有名詞 span):")
    for label, n in new_by_label.most_common():
        print(f"  {label:26} {n:4}  (SudachiPy proper noun too: {sudachi_too[label]:3})  e.g. {' / '.join(examples[label])}")
    pairs_with = Counter(r["pair"] for r, d in zip(rows, docs, strict=True)
                         if any(e.label_ in WANTED and not covered(e.start_char, e.end_char, r["lexicon"]) for e in d.ents))
    print(f"pairs with at least one such entity: {len(pairs_with)} of {len({r['pair'] for r in rows})}")
    print(f"of them, names the other version of the pair does not contain (candidate new parties): {len(candidates)}")
    for (label, text), pairs in sorted(candidates.items(), key=lambda x: (x[0][0], x[0][1])):
        print(f"  GiNZA {label:24} {text:36} pairs {', '.join(sorted(pairs))}")
    shape: dict[tuple[str, str], set[str]] = {}
    for row in rows:
        for start, end, kind, text in row["shape"]:
            if not covered(start, end, row["lexicon"]) and new_in_pair(text, row, versions):
                shape.setdefault((kind, text), set()).add(row["pair"][:3])
    print(f"watcher.judge.entities (SudachiPy POS + legal forms), same test: {len(shape)} candidate new parties/countries")
    for (kind, text), pairs in sorted(shape.items()):
        print(f"  shape {kind:24} {text:36} pairs {', '.join(sorted(pairs))}")
    most = Counter(r["pair"] for r in rows).most_common(1)[0]
    print("decision: GiNZA is not adopted (README: 'Open vocabulary: what GiNZA costs and buys').")
    print(f"  its load ({t_load:.2f} s here) takes most or all of the 2 s a whole `watch diff` process may take; at the median "
          f"{statistics.median(times):.0f} ms a sentence the pair with most changed sentences ({most[0][:3]}, {most[1]}) "
          f"takes {most[1] * statistics.median(times) / 1000:.1f} s of NER alone (target for a 60-KB pair: 0.3 s);")
    print(f"  of its {len(candidates)} names absent from the other version most are the company and its products, "
          "and the outside organisations among them are Latin names the shape rules see where they stand as a party.")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dump", type=Path, help="(project venv) write the changed sentences to this JSON file and stop")
    ap.add_argument("--project-python", default=str(ROOT / ".venv" / "bin" / "python"))
    ap.add_argument("--sentences", type=Path, help="(GiNZA venv) read sentences dumped before instead of dumping now")
    args = ap.parse_args()
    if args.dump:
        dump(args.dump)
        return 0
    path = args.sentences
    if path is None:
        path = Path(tempfile.mkstemp(suffix=".json")[1])
        subprocess.run([args.project_python, __file__, "--dump", str(path)], check=True)
    evaluate(json.loads(path.read_text(encoding="utf-8")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
