"""The bodies of the `watch` subcommands, one module each: load the config, call the library,
print. watcher/cli.py parses the arguments and runs `run(args)` of the command's module, which it
loads by name, so `watch diff` never loads the store or the scheduler."""

import unicodedata

from watcher import lazy

# rich with the first text shown through it: a `watch check --json` of one policy prints none.
escape = lazy.function("rich.markup:escape")

STATUS_STYLE = {"first": "cyan", "unchanged": "dim", "changed": "bold yellow", "failed": "bold red"}
SEVERITY_STYLE = {"consent": "bold red", "notice": "yellow", "minor": "green", "none": "dim"}


def plain(text: str) -> str:
    """Text shown through rich, with its markup characters escaped and no terminal control
    sequences (a server's reason phrase or page title may carry OSC 52 clipboard writes)."""
    return escape(terminal_safe(text))


def terminal_safe(text: str) -> str:
    """Control (C0, C1, DEL) and format characters shown as "�": nothing a terminal acts on."""
    return "".join("\ufffd" if unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\n\t" else ch
                   for ch in str(text))
