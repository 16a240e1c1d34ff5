"""Reading a revision clause (本ポリシーの変更 / 改定 / Changes to this policy): where it is, what it promises.

The revision clause of the OLD version is the promise in force when a change was made
(TAXONOMY.md §Routing). Its wording is read with the regexes of the [revision] table in
watcher/rules/<language>.toml.
"""

from __future__ import annotations

import re

from watcher.judge.rules import CHANNELS, load_rules
from watcher.models import Clause, Promises
from watcher.normalize import key

# Characters that key() folds (full width, ideographic space): only then is the key worth computing.
_KEY_SENSITIVE = re.compile(r"[\uff00-\uffef\u3000\s]")
_SEPARATOR = "\u3002\n"   # 。 + line break: a regex never matches across two nodes
_NOTIFY_RANK = {"none": 0, "material": 1, "all": 2}
_PERSONAL = ("email", "app")     # channels that reach a user personally
_SENTENCES = re.compile(r"(?<=[。！？!?])|\n|(?<=[.;])\s+(?=[A-Z0-9(\"'])")
# A lead time's number and unit inside a matched lead-time phrase: Arabic digits (full width folded by
# key()), kanji numerals (三十, 十四, 二〇) or English number words ("thirty", "forty-five", "thirty (30)").
_NUMBER_UNIT = re.compile(
    r"(?<![0-9〇零一二三四五六七八九十百千])([0-9]+|[〇零一二三四五六七八九十百千]+)\s*(?:営業)?"
    r"(日|週間|週|か月|ヶ月|カ月|ヵ月|ケ月|箇月)"
    r"|(?<![A-Za-z0-9-])([0-9]+|[A-Za-z]+(?:[- ][A-Za-z]+)?)(?:\s*\([0-9]+\))?\s+(?:business\s+|calendar\s+|working\s+)?"
    r"(days?|weeks?|months?)\b", re.IGNORECASE)
_UNIT_DAYS = {"日": 1, "週間": 7, "週": 7, "か月": 30, "ヶ月": 30, "カ月": 30, "ヵ月": 30, "ケ月": 30, "箇月": 30,
              "day": 1, "days": 1, "week": 7, "weeks": 7, "month": 30, "months": 30}
_KANJI_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_KANJI_POWERS = {"十": 10, "百": 100, "千": 1000}
_ENGLISH_ONES = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                 "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
                 "seventeen": 17, "eighteen": 18, "nineteen": 19}
_ENGLISH_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
                 "ninety": 90}


def kanji_number(text: str) -> int | None:
    """三十 -> 30, 十四 -> 14, 百二十 -> 120, 二〇 -> 20 (digit by digit when there is no 十/百/千)."""
    if not text or any(ch not in _KANJI_DIGITS and ch not in _KANJI_POWERS for ch in text):
        return None
    if not any(ch in _KANJI_POWERS for ch in text):
        return int("".join(str(_KANJI_DIGITS[ch]) for ch in text))
    total, digit = 0, None
    for ch in text:
        if ch in _KANJI_DIGITS:
            digit = _KANJI_DIGITS[ch]
        else:
            total += (1 if digit is None else digit) * _KANJI_POWERS[ch]
            digit = None
    return total + (digit or 0)


def english_number(text: str) -> int | None:
    """"thirty" -> 30, "forty-five" / "forty five" -> 45, "14" -> 14; None for a word that is no number."""
    text = text.lower()
    if text.isdigit():
        return int(text)
    parts = re.split(r"[- ]", text)
    if len(parts) == 1:
        return _ENGLISH_ONES.get(parts[0], _ENGLISH_TENS.get(parts[0]))
    if len(parts) == 2 and parts[0] in _ENGLISH_TENS and parts[1] in _ENGLISH_ONES and _ENGLISH_ONES[parts[1]] < 10:
        return _ENGLISH_TENS[parts[0]] + _ENGLISH_ONES[parts[1]]
    return None


def days_in(phrase: str) -> int | None:
    """The days a lead-time phrase states (「効力発生日の三十日前」 -> 30, "two weeks before" -> 14)."""
    for m in reversed(list(_NUMBER_UNIT.finditer(phrase))):
        if m.group(1):
            number = int(m.group(1)) if m.group(1).isdigit() else kanji_number(m.group(1))
            unit = m.group(2)
        else:
            number = english_number(m.group(3))
            if number is None and " " in m.group(3):      # "least thirty": the last word alone
                number = english_number(m.group(3).split()[-1])
            unit = m.group(4).lower()
        if number is not None:
            return number * _UNIT_DAYS.get(unit, 1)
    return None


def _rx(rules, name: str) -> re.Pattern | None:
    return rules.revision.get(name)


def _hit(rules, name: str, text: str):
    pattern = _rx(rules, name)
    return pattern.search(text) if pattern is not None and text else None


def is_revision_title(title: str, language: str = "ja") -> bool:
    """Whether a clause title names the revision clause (not 利用目的の変更, not 改定履歴)."""
    rules = load_rules(language)
    if not (_hit(rules, "titles", title) or (_KEY_SENSITIVE.search(title) and _hit(rules, "titles", key(title)))):
        return False
    return not _hit(rules, "not_titles", key(title))


# classify looks for the revision clause of both versions, then route for the old one's again: remember the
# last two answers.
_last: list[tuple[list[Clause], int, str, Clause | None]] = []


def find_revision_clause(clauses: list[Clause], language: str = "ja") -> Clause | None:
    """The clause (or nested section) that says how the policy itself is changed, if any."""
    for seen in list(_last):
        if seen[0] is clauses and seen[1] == len(clauses) and seen[2] == language:
            return seen[3]
    found = _find_revision_clause(clauses, language)
    _last[:] = [*_last[-1:], (clauses, len(clauses), language, found)]
    return found


def _find_revision_clause(clauses: list[Clause], language: str) -> Clause | None:
    rules = load_rules(language)
    # 1. A titled clause: 本ポリシーの変更, 改定, プライバシーポリシーの変更・更新通知及び苦情について...
    for depth_first in (True, False):
        for clause in clauses:
            if clause.kind != "clause":
                continue
            nodes = [clause] if depth_first else list(clause.walk())[1:]
            for node in nodes:
                if node.title and is_revision_title(node.title, language):
                    return node
    # 2. An untitled one: the clause whose text says the policy may be changed.
    body = _rx(rules, "body")
    if body is None:
        return None
    nodes = [node for clause in sorted(clauses, key=lambda c: c.kind != "clause") for node in clause.walk()]
    # One search over the whole text first: most policies have a titled clause or none at all.
    # (each clause's key is the diff stage's, already in key()'s cache).
    whole = _SEPARATOR.join(key("\n".join(n.own_text() for n in clause.walk())) for clause in clauses)
    if not body.search(whole):
        return None
    for node in nodes:
        text = node.own_text()
        if body.search(text) or (_KEY_SENSITIVE.search(text) and body.search(key(text))):
            if not _hit(rules, "not_titles", key(node.title)):
                return node
    return None


def _sentences(text: str) -> list[str]:
    lines = (key(line) for line in text.splitlines())
    return [s.strip() for line in lines for s in _SENTENCES.split(line) if s and s.strip()]


def parse_promises(text: str, language: str = "ja") -> Promises:
    """What a revision clause promises: notice (all / material / none), consent, channels, lead time."""
    rules = load_rules(language)
    sentences = _sentences(text)
    no_notice = material = announce = consent = deemed = False
    channels: set[str] = set()
    unspecified = False
    scoped = False        # the previous sentence spoke of material changes only (「その場合」 refers to it)
    for sentence in sentences:
        stripped = sentence
        not_consent = _rx(rules, "not_consent")
        if not_consent is not None:
            stripped = not_consent.sub(" ", sentence)
        if _hit(rules, "deemed_consent", sentence):
            deemed = True
        if _hit(rules, "consent", stripped):
            consent = True
        says_no_notice = bool(_hit(rules, "no_notice", sentence))
        no_notice = no_notice or says_no_notice
        # "通知することなく変更できる" announces nothing, even though it contains the verb.
        says_announce = bool(_hit(rules, "announce", sentence)) and not says_no_notice
        says_material = bool(_hit(rules, "material", sentence)) or (scoped and bool(_hit(rules, "refers_back", sentence)))
        if says_material and says_announce:
            material = True
        scoped = says_material
        if says_announce:
            announce = True
            found = sentence_channels(rules, sentence)
            channels |= found
            unspecified = unspecified or bool(_hit(rules, "unspecified", sentence))
    if material:
        notify = "material"
    elif no_notice:
        notify = "none"
    elif announce:
        notify = "all"
    else:
        notify = "none"
    ordered = [ch for ch in CHANNELS if ch in channels]
    if unspecified or not ordered:
        ordered.append("unspecified")
    return Promises(notify_users=notify, consent_when_required=consent, channels=ordered,
                    lead_time_days=lead_time(rules, "\n".join(sentences)), deemed_consent=deemed)


def sentence_channels(rules, sentence: str) -> set[str]:
    """The channels one announcing sentence names.

    A notice addressed to the user (「ユーザーに通知」, "notify you") with no channel of its own reaches
    the user personally (TAXONOMY: ユーザーに通知 -> email). When a public page is its means
    (「当社ウェブサイトに掲載することにより通知」, "notify you by posting a notice on our website") it is
    that page and nothing more, unless the sentence promises a notice besides the posting
    (「掲載するとともに…通知」, "post ... and notify you").
    """
    found = {ch for ch in CHANNELS if ch != "unspecified" and _hit(rules, ch, sentence)}
    if _hit(rules, "addressed", sentence) and not found & set(_PERSONAL):
        public_means = bool(found & {"website", "service"}) and bool(_hit(rules, "public_means", sentence))
        if not public_means or _hit(rules, "separate_notice", sentence):
            found.add("email")
    return found


def lead_time(rules, text: str) -> int | None:
    """The days of advance notice a revision clause promises, if any: 「効力発生日の7日前までに」,
    「掲載後三十日を経過した日から効力を生じる」, "30 days before", "thirty days after posting".
    The first such phrase in the text counts."""
    found: list[tuple[int, int]] = []
    for name in ("lead_time", "lead_time_after"):
        pattern = _rx(rules, name)
        if pattern is None:
            continue
        for m in pattern.finditer(text):
            days = days_in(m.group(0))
            if days:
                found.append((m.start(), days))
                break
    return min(found)[1] if found else None


def weakenings(before: Promises, after: Promises) -> list[tuple[str, dict]]:
    """weakened_promises as reason pieces: (code of rules/reasons.toml, its fields), in the same order."""
    pieces: list[tuple[str, dict]] = []
    if _NOTIFY_RANK[after.notify_users] < _NOTIFY_RANK[before.notify_users]:
        pieces.append(("revision.weaker.notify_users",
                       {"before": [(f"promise.notify_users.{before.notify_users}", {})],
                        "after": [(f"promise.notify_users.{after.notify_users}", {})]}))
    if before.consent_when_required and not after.consent_when_required:
        pieces.append(("revision.weaker.consent", {}))
    if before.notify_users != "none" and after.notify_users != "none":
        lost = [ch for ch in _PERSONAL if ch in before.channels and ch not in after.channels]
        if lost and not any(ch in after.channels for ch in _PERSONAL):
            pieces.append(("revision.weaker.personal_notice", {"channels": "/".join(lost)}))
    if before.lead_time_days and (after.lead_time_days is None or after.lead_time_days < before.lead_time_days):
        pieces.append(("revision.weaker.lead_time", {"before": before.lead_time_days,
                                                     "after": after.lead_time_days or [("promise.lead_time.none", {})]}))
    if after.deemed_consent and not before.deemed_consent:
        pieces.append(("revision.weaker.deemed_consent", {}))
    return pieces


def weakened_promises(before: Promises, after: Promises) -> list[str]:
    """How the new revision clause promises users less than the old one (empty when it does not)."""
    weaker = []
    if _NOTIFY_RANK[after.notify_users] < _NOTIFY_RANK[before.notify_users]:
        weaker.append(f"notify_users {before.notify_users} → {after.notify_users}")
    if before.consent_when_required and not after.consent_when_required:
        weaker.append("no longer promises to obtain consent where the law requires it")
    if before.notify_users != "none" and after.notify_users != "none":
        lost = [ch for ch in _PERSONAL if ch in before.channels and ch not in after.channels]
        if lost and not any(ch in after.channels for ch in _PERSONAL):
            weaker.append(f"personal notice by {'/'.join(lost)} dropped")
    if before.lead_time_days and (after.lead_time_days is None or after.lead_time_days < before.lead_time_days):
        weaker.append(f"advance notice {before.lead_time_days} days → {after.lead_time_days or 'none'}")
    if after.deemed_consent and not before.deemed_consent:
        weaker.append("continued use now counts as consent (deemed consent)")
    return weaker
