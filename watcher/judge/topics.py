"""What a clause, or a changed unit inside it, is about (the [topic] tables of the rules file)."""

from __future__ import annotations

from watcher.judge.rules import Rules
from watcher.judge.units import Unit
from watcher.models import Clause
from watcher.normalize import key

# Topics that say little about a unit: one only under these is judged by its own first words.
_VAGUE_TOPICS = {"preamble", "metadata", "disclaimer"}


def clause_topics(clause: Clause, rules: Rules) -> set[str]:
    """What a top-level clause is about, from its title (or its first sentence when untitled)."""
    if clause.kind == "preamble":
        return {"preamble"}
    if clause.kind == "metadata":
        return {"metadata"}
    topics = rules.heading_topics(key(clause.title))
    if not topics:
        first = key(clause.body[0]) if clause.body else ""
        first = first.split("。")[0][:80]
        topics = rules.heading_topics(first)
    return topics


def unit_topics(unit: Unit, clause_topics_: set[str], rules: Rules, sparse: bool) -> set[str]:
    """What a changed unit is about: its clause's topics, its heading's, its markers' (a table cell: its column's)."""
    topics = set(clause_topics_) if not unit.column else set()
    text = unit.new or unit.old
    outside_policy = bool(clause_topics_ & {"preamble", "metadata"}) and not sparse
    if unit.heading and not outside_policy:
        topics |= rules.heading_topics(unit.heading)
    topics |= rules.marker_topics(unit.old + "\n" + unit.new)
    if not (topics - _VAGUE_TOPICS) and not outside_policy and not unit.column:
        # No topic from the headings: judge by the unit's own first words (a heading-like lead).
        topics |= rules.heading_topics(text.split("\n")[0][:60])
    for name in list(topics):
        topic = rules.topics.get(name)
        if topic is not None:
            topics -= set(topic.overrides) - {name}
    # A clause about both collected data and purposes: an item is one or the other.
    if {"purposes", "data_collected"} <= topics:
        if rules.search("collection_shape", text):
            topics.discard("purposes")
        elif rules.search("purpose_shape", text):
            topics.discard("data_collected")
    return topics
