"""Render sample mails (staff digest, staff alert, users' notice; Japanese and English) as HTML and
screenshot them with headless Debian chromium, so a person can look at them.

    python bench/render_digest.py [--out bench/out] [--width 820]

The reports come from the real pipeline (watcher.compare on corpus pairs, full clause text);
the digest adds two operational alerts. Writes bench/out/<name>.html and <name>.png and prints,
per mail, the rendering time, the HTML size and the PNG size. Needs `apt-get install -y chromium`
(and fonts-noto-cjk for Japanese glyphs).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from watcher.compare import compare  # noqa: E402
from watcher.notify import compose  # noqa: E402
from watcher.report import report_to_dict  # noqa: E402
from watcher.sources import load  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "corpus" / "pairs"   # a copy of ../shared/corpus
PAIRS = {
    "enmono": ["d01-enmono-purpose-ad-targeting", "d03-enmono-foreign-transfer-renumber"],
    "eclore": ["d07-eclore-fee-increase", "d08-eclore-purpose-broadened"],
    "infox": ["d13-infox-contact-email"],
}
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--hide-scrollbars"]


def reports() -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for name, pairs in PAIRS.items():
        for pair in pairs:
            d = CORPUS / pair
            if not d.is_dir():
                continue
            report = compare(load(str(d / "old.txt"), None), load(str(d / "new.txt"), None))
            out.setdefault(name, []).append(report_to_dict(report, full_text=True))
    return out


def mails(lang: str) -> dict[str, str]:
    by_policy = reports()
    if not by_policy:
        raise SystemExit(f"corpus not found at {CORPUS}")
    entries = []
    for name, rs in by_policy.items():
        for i, r in enumerate(rs, start=1):
            entries.append({"policy": {"name": name, "url": f"https://{name}.example.com/privacy"},
                            "report": r, "ref": {"show": f"watch show {name}@{i + 1}",
                                                 "diff": f"watch diff {name}@{i} {name}@{i + 1}"}})
    now = datetime(2026, 5, 1, 9, 0)
    alerts = [
        {"when": now - timedelta(hours=3), "policy": "coorum",
         "message": "3 failed checks in a row: HTTP 503 Service Unavailable", "url": "https://coorum.example.com/pp"},
        {"when": now - timedelta(hours=1), "policy": "saas",
         "message": "extraction lost 92% of the text (login page?) — not stored", "url": ""},
    ]
    first = entries[0]
    material = max((e for e in entries), key=lambda e: ("notice", "consent").index(e["report"]["severity"])
                   if e["report"]["severity"] in ("notice", "consent") else -1)
    return {
        f"digest_{lang}": compose.digest_mail(entries, alerts, lang, now).html,
        f"alert_{lang}": compose.staff_mail(material["policy"], material["report"], lang, first["ref"],
                                               users_notified=bool(material["report"]["notify"]["users"])).html,
        f"user_{lang}": compose.user_mail(material["policy"], material["report"], lang).html,
    }


def page_height(chromium: str, html_path: Path, width: int, profile: str) -> int:
    """Ask chromium how tall the page is (a copy of the page reports its scrollHeight in the title)."""
    probe = html_path.with_suffix(".probe.html")
    text = html_path.read_text(encoding="utf-8")
    script = ("<script>window.addEventListener('load',function(){document.title="
              "'H='+document.documentElement.scrollHeight;});</script>")
    probe.write_text(text.replace("</body>", script + "</body>"), encoding="utf-8")
    try:
        dom = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},800",
                              "--virtual-time-budget=2000", "--dump-dom", probe.as_uri()],
                             capture_output=True, text=True, timeout=120).stdout
    finally:
        probe.unlink(missing_ok=True)
    m = re.search(r"<title>H=(\d+)</title>", dom)
    return int(m.group(1)) if m else 2400


def screenshot(chromium: str, html_path: Path, png_path: Path, width: int) -> int:
    with tempfile.TemporaryDirectory(prefix="pw-chromium-") as profile:
        height = min(page_height(chromium, html_path, width, profile) + 16, 16000)
        subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                        f"--screenshot={png_path}", html_path.as_uri()],
                       capture_output=True, text=True, timeout=120, check=True)
    return height


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "bench" / "out"))
    ap.add_argument("--width", type=int, default=820)
    ap.add_argument("--lang", choices=("ja", "en", "both"), default="both")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("chromium not found: apt-get install -y chromium fonts-noto-cjk (HTML is still written)")
    langs = ("ja", "en") if args.lang == "both" else (args.lang,)
    for lang in langs:
        t0 = time.perf_counter()
        rendered = mails(lang)
        elapsed = time.perf_counter() - t0
        print(f"{lang}: built and rendered {len(rendered)} mails from the corpus in {elapsed * 1000:.0f} ms")
        for name, html in rendered.items():
            assert "<style" not in html and "<ins" not in html and "<del" not in html, name
            path = out / f"{name}.html"
            path.write_text(html, encoding="utf-8")
            line = f"  {name}: html {len(html.encode()) / 1024:.1f} KiB"
            if chromium:
                png = out / f"{name}.png"
                height = screenshot(chromium, path, png, args.width)
                line += f", png {png.stat().st_size / 1024:.0f} KiB ({args.width}x{height}) -> {png}"
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
