"""The plain data that flows between the pipeline stages.

extract -> Document -> segment -> [Clause] -> align/diff -> [ClauseChange] -> classify/route -> Report
Every stage takes these and returns these; no stage reaches back into an earlier one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

SEVERITIES = ("none", "minor", "notice", "consent")
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}


def max_severity(severities) -> str:
    best = "none"
    for s in severities:
        if SEVERITY_RANK[s] > SEVERITY_RANK[best]:
            best = s
    return best


@dataclass
class Line:
    """One block of extracted text (a paragraph, a list item, a heading).

    `text` is the original text for display. `heading` is the HTML/Markdown heading
    level (1-6) or 0. Numbers that a browser draws for `<ol>` items are already
    written into `text` ("1. ...") by the extractor. `depth` is how deep the line sits in
    nested lists: 0 outside a list and in a list's own items, 1 in a list inside a list
    item (a sub-bullet), 2 below that (HTML <ul>/<ol> nesting, Markdown indentation; a
    Markdown paragraph indented inside an item is at the depth of that item's sub-items).
    """

    text: str
    heading: int = 0
    depth: int = 0


@dataclass
class Document:
    """The policy text of one version, as extracted from a page or file."""

    source: str
    lines: list[Line]
    title: str = ""
    charset: str = ""          # the charset the body was decoded with ("" for str input)
    content_type: str = ""     # "html", "markdown" or "text"
    # A stored snapshot's identity (sources.load_snapshot): policy, version, fetched_at, sha256, url;
    # empty for a file, URL or standard input. Reported as JSON v1 old/new beside `source`.
    meta: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


ClauseKind = Literal["preamble", "clause", "metadata"]


@dataclass
class Clause:
    """A node of the clause tree: an article/section, or an item/paragraph inside one.

    `number` is the marker as written ("第4条", "1.", "(2)", "①", "・"; "" when none),
    `ordinal` its value (4, 1, 2, 1; None for bullets and unnumbered nodes).
    `title` is the heading text (without the number), `body` the node's own lines
    (display text, markers removed from the first), `children` the nested nodes.
    `kind` is "clause" for ordinary nodes, "preamble" for the text before the first
    top-level clause, "metadata" for the date / 改定履歴 lines (not policy content).
    """

    number: str = ""
    ordinal: int | None = None
    title: str = ""
    body: list[str] = field(default_factory=list)
    children: list[Clause] = field(default_factory=list)
    kind: ClauseKind = "clause"
    style: str = ""           # the numbering style that introduced this node ("article", "dot", ...)
    index: int = 0            # position among its siblings (top level: in the document)

    @property
    def label(self) -> str:
        """How the clause is named to a person: '第4条 外国にある第三者への提供'."""
        if self.kind == "preamble":
            return "前文"
        if self.kind == "metadata":
            return self.title or "制定・改定日"
        return " ".join(part for part in (self.number, self.title) if part) or (self.body[0][:30] if self.body else "")

    def own_text(self) -> str:
        """Title and own body, without the number marker and without children."""
        return "\n".join(([self.title] if self.title else []) + self.body)

    def full_text(self, title: bool = True) -> str:
        """Everything in the subtree, markers of nested items included, for display."""
        parts = [self.own_text() if title else "\n".join(self.body)]
        for child in self.children:
            marker = child.number
            text = child.full_text()
            parts.append(f"{marker} {text}".strip() if marker else text)
        return "\n".join(p for p in parts if p)

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass
class Hunk:
    """One inline edit: op is 'insert', 'delete' or 'replace'."""

    op: str
    old: str
    new: str


@dataclass
class ItemChange:
    """A list item or paragraph inside a clause that was added, removed or edited."""

    op: str                      # "added" | "removed" | "edited"
    number: str | None           # the item's number in the new version (None when removed or unnumbered)
    old_number: str | None       # its number in the old version (None when added or unnumbered)
    text: str | None             # new text (None when removed)
    old_text: str | None         # old text (None when added)
    title: str = ""              # the heading of the item's parent inside the clause ("" at the clause's own level)
    hunks: list[Hunk] = field(default_factory=list)


@dataclass
class Reason:
    """One reason of a verdict: `code` is the rule id that gave it (JSON v1 `reason_details`)."""

    code: str
    text: str
    evidence: list[str] = field(default_factory=list)
    # How the text is made in another language (watcher.reasons.render; not in the JSON): the rule's
    # adjust code, the note after it (matched words: page text), the {fields} of the code's text.
    adjust: str = ""
    note: str = ""
    fields: dict = field(default_factory=dict)


@dataclass
class ClauseChange:
    """One changed top-level clause, and the verdict on it."""

    type: str                    # "added" | "removed" | "modified" | "moved" | "renumbered"
    old: Clause | None
    new: Clause | None
    items: list[ItemChange] = field(default_factory=list)
    hunks: list[Hunk] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    severity: str = "none"
    reasons: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    related: list[str] = field(default_factory=list)   # other clauses of a split / merge (their labels)
    details: list[Reason] = field(default_factory=list)  # the reasons with their codes and evidence

    @property
    def substantive(self) -> bool:
        return self.severity != "none"


@dataclass
class Promises:
    """What a policy's revision clause promises (TAXONOMY.md §Routing)."""

    notify_users: str = "none"            # "all" | "material" | "none"
    consent_when_required: bool = False
    channels: list[str] = field(default_factory=lambda: ["unspecified"])
    lead_time_days: int | None = None
    deemed_consent: bool = False


@dataclass
class RevisionClause:
    number: str
    title: str
    promises: Promises
    text: str = ""


@dataclass
class Notify:
    users: bool = False
    staff: bool = False
    actions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)     # e.g. "no revision clause: users are not emailed"


@dataclass
class Report:
    """The result of comparing two versions (schema policy-watcher/diff/v1)."""

    old_source: str
    new_source: str
    old_clauses: int
    new_clauses: int
    changes: list[ClauseChange]
    summary: dict[str, int]
    language: str = "ja"
    revision_clause: RevisionClause | None = None
    notify: Notify = field(default_factory=Notify)
    old_meta: dict = field(default_factory=dict)       # Document.meta of a stored operand (+ effective_date)
    new_meta: dict = field(default_factory=dict)
    # A bilingual policy's two texts judged apart (judge/bilingual.py Agreement.to_dict); None otherwise.
    bilingual: dict | None = None

    @property
    def severity(self) -> str:
        return max_severity(c.severity for c in self.changes)

    @property
    def material(self) -> bool:
        return self.severity in ("notice", "consent")

    @property
    def substantive(self) -> bool:
        return self.severity != "none"


@dataclass
class Verdict:
    """The judgement on one clause change (judge.classify returns one per change; the caller applies it)."""

    categories: list[str] = field(default_factory=list)
    severity: str = "none"
    reasons: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    details: list[Reason] = field(default_factory=list)   # each reason with its rule id and its own evidence
