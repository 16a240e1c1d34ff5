"""The report formats by name, without loading them: kind -> "module:Class" of its renderer.

`watch diff --format` takes its choices from here, so `watch --help` does not import the diff
engine, rich or jinja2. watcher.report registers the classes (RENDERERS, `@register`, each with its
docstring) and checks when it is imported that they are exactly these, in this order. A new format
is its class there (or in a module watcher.report imports) plus its line here.
"""

from __future__ import annotations

RENDERER_CLASSES = {
    "text": "watcher.report:TextRenderer",
    "json": "watcher.report:JsonRenderer",
    "md": "watcher.report:MarkdownRenderer",
    "html": "watcher.report:HtmlRenderer",
    "docx": "watcher.report:DocxRenderer",
}
FORMATS = tuple(RENDERER_CLASSES)
