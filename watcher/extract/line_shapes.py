"""Line shapes that both the HTML and the Markdown paths read the same way."""

from __future__ import annotations

import re

# A line that starts a new item even inside a paragraph (the segmenter reads these markers).
LIST_LINE = re.compile(
    r"""^\s*(?:
        [-*+](?:\s|$)                       # - item   * item
      | [0-9０-９]{1,3}(?:[-‐－][0-9０-９]{1,3})*[.．)）](?![0-9０-９])   # 1. 1) 4-1.
      | [(（][0-9０-９a-zA-Zア-ン一二三四五六七八九十ivx]{1,4}[)）]   # (1) （ア）
      | [・•●○◦▪■□◆◇※]                     # ・ item
      | [\u2460-\u2473\u3251-\u325f\u32b1-\u32bf\u2776-\u2793]      # ①
      | 第[0-9０-９一二三四五六七八九十百]+[条章節]                     # 第3条
    )""",
    re.X,
)

# A short paragraph that is bold from end to end ("**Information We Collect**",
# "<p><strong>個人情報の利用目的</strong></p>") is how many policies write their headings: it
# becomes a heading of the lowest level, which the segmenter ranks below numbered sections.
BOLD_HEADING = 6
BOLD_HEADING_MAX = 80


def bold_heading_shape(text: str) -> bool:
    """May `text`, a paragraph that is bold from end to end (markup gone), be a heading?

    Short enough to be a title; a longer bold paragraph is an emphasised passage. Each path
    checks itself that the paragraph is not a list item (a bold item stays an item).
    """
    return 0 < len(text) <= BOLD_HEADING_MAX
