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
