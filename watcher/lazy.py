"""Names loaded on first use, so that a module can name a heavy dependency (numpy, SQLAlchemy,
requests, BeautifulSoup, jinja2) without importing it: `watch --help` and a `watch diff` of two
files then start fast (tests/test_startup.py, bench/startup.py).

    np = module("numpy")                                 # the first attribute access imports it
    open_store = function("watcher.store:open_store")    # the first call imports it
    _DIGITS = pattern("[0-9０-９]+")                     # compiled at its first use

The rule "no function-level imports" stands: the name is declared at the top of the module that
uses it, as a dotted path, like a command body in watcher/cli.py.
"""

from __future__ import annotations

import importlib
import re
import sys
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


class pattern:  # noqa: N801 - reads like the re.Pattern it stands for
    """A module-level regular expression compiled at its first use. A character class of the
    Japanese ranges costs 1-3 ms to compile, in every process, and a check that gets 304s matches
    none of them. That first use puts the compiled re.Pattern in this object's place in the module
    that defined it, so that module's functions then read a plain pattern (no indirection in a hot
    loop); a reference held elsewhere keeps working through this object."""

    __slots__ = ("_args", "_namespace", "_compiled")

    def __init__(self, regex: str | bytes, flags: int = 0):
        self._args = (regex, flags)
        self._namespace = sys._getframe(1).f_globals        # the module being defined
        self._compiled: re.Pattern | None = None

    def compiled(self) -> re.Pattern:
        if self._compiled is None:
            self._compiled = re.compile(*self._args)
            for name, value in list(self._namespace.items()):
                if value is self:
                    self._namespace[name] = self._compiled
        return self._compiled

    def __getattr__(self, attribute: str):            # search, sub, match, pattern, flags ...
        if attribute.startswith("__"):                 # copy/pickle probes: this object, not the pattern
            raise AttributeError(attribute)
        return getattr(self.compiled(), attribute)

    def __repr__(self) -> str:
        return f"<lazy pattern {self._args[0]!r}{' (compiled)' if self._compiled is not None else ''}>"
