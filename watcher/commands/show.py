"""`watch show NAME[@REF]`: the text (or the clause outline) of a stored version, as the current
code derives it."""

from __future__ import annotations

import sys

from watcher.config import load_settings
from watcher.derive import current_document, current_outline
from watcher.segment import outline as outline_lines
from watcher.sources import split_ref
from watcher.store import open_store


def run(args) -> int:
    return show_command(args.config, args.spec, outline=args.outline)


def show_command(config: str, spec: str, *, outline: bool = False) -> int:
    named = split_ref(spec)
    name, ref = named if named else (spec, "latest")
    settings = load_settings(config)
    policy = next((p for p in settings.policies if p.name == name), None)
    store = open_store(settings.store)
    try:
        snapshot = store.resolve_ref(name, ref)
        if outline:
            tree = current_outline(snapshot, policy, store.get_body)
        else:
            doc, _ = current_document(snapshot, policy, store.get_body, source=spec)
    finally:
        store.close()
    if outline:
        sys.stdout.write("\n".join(outline_lines(tree)) + "\n")
    else:
        sys.stdout.write(doc.text + "\n")
    return 0
