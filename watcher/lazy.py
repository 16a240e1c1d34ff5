"""Names loaded on first use, so that a module can name a heavy dependency (numpy, SQLAlchemy,
requests, BeautifulSoup, jinja2) without importing it: `watch --help` and a `watch diff` of two
files then start fast (tests/test_startup.py, bench/startup.py).

    np = module("numpy")                                 # the first attribute access imports it
    open_store = function("watcher.store:open_store")    # the first call imports it

The rule "no function-level imports" stands: the name is declared at the top of the module that
uses it, as a dotted path, like a command body in watcher/cli.py.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class module:  # noqa: N801 - reads like the module it stands for
    """A module imported at its first attribute access."""

    __slots__ = ("_name", "_module")

    def __init__(self, name: str):
        self._name, self._module = name, None

    def _load(self) -> ModuleType:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return self._module

    def __getattr__(self, attribute: str):
        return getattr(self._load(), attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}{' (loaded)' if self._module is not None else ''}>"


class function:  # noqa: N801 - reads like the function it stands for
    """`module:function`, imported at its first call."""

    __slots__ = ("spec", "_target")

    def __init__(self, spec: str):
        if ":" not in spec:
            raise ValueError(f"{spec!r}: expected 'module:function'")
        self.spec, self._target = spec, None

    def resolve(self):
        if self._target is None:
            name, _, attribute = self.spec.partition(":")
            self._target = getattr(importlib.import_module(name), attribute)
        return self._target

    def __call__(self, *args, **kwargs):
        return self.resolve()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<lazy function {self.spec!r}>"
