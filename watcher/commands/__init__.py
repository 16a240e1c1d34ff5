"""The bodies of the `watch` subcommands, one module each: load the config, call the library,
print. watcher/cli.py parses the arguments and runs `run(args)` of the command's module, which it
loads by name, so `watch diff` never loads the store or the scheduler."""

from rich.markup import escape

STATUS_STYLE = {"first": "cyan", "unchanged": "dim", "changed": "bold yellow", "failed": "bold red"}
SEVERITY_STYLE = {"consent": "bold red", "notice": "yellow", "minor": "green", "none": "dim"}


def plain(text: str) -> str:
    """Text shown through rich, with its markup characters escaped."""
    return escape(text)
