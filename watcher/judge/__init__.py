"""Judging clause changes under APPI, and deciding who is told.

    rules     the TOML rules (rules/<language>.toml, rules/routing.toml): load, validate
    builtins  the '@' built-in conditions rules may name (a registry)
    entities  open vocabulary: organisations and countries by their shape (and its built-ins)
    text      comparison-key and evidence helpers
    units     a changed clause cut into units (items / paragraphs added, removed, edited)
    topics    what a clause or a unit is about
    engine    running the rules on a unit
    revision  reading a revision clause (改定条項): where it is, what it promises
    classify  categories / severity / reasons / evidence per change, returned as Verdicts
    route     who is told and what is to be done, from rules/routing.toml

Depends on watcher.models, watcher.normalize, watcher.diff and watcher.errors only.
"""

# Registers the open-vocabulary built-ins (@names_new_party, @names_new_country) before any rules file is read.
from watcher.judge import entities  # noqa: F401
