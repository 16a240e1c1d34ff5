"""Registries of small kinds (fetchers, extractors, report renderers, notification channels):
one class per kind, added with the registry's `register` class decorator, documented by its
docstring (tests/test_docs.py checks the README lists every kind with that docstring's first line).
"""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K", bound=type)


class Registry(dict):
    """kind name -> class. `unique` names class attributes holding values (URL schemes, file
    suffixes) that no two kinds may claim: the registry can then say which kind serves a value."""

    def __init__(self, what: str, *, unique: tuple[str, ...] = ()):
        super().__init__()
        self.what, self.unique = what, unique

    def register(self, cls: K) -> K:
        """Class decorator: add `cls` under `cls.kind` (a kind without a name or a docstring, or a
        kind or a unique value claimed twice, is a bug)."""
        kind = getattr(cls, "kind", "")
        if not kind:
            raise TypeError(f"{cls.__name__}: a {self.what} needs a `kind` name")
        if not (cls.__doc__ or "").strip():
            raise TypeError(f"{self.what} kind {kind!r}: its docstring says what it does (the README shows it)")
        if kind in self:
            raise ValueError(f"{self.what} kind {kind!r} is registered twice")
        for attribute in self.unique:
            for value in getattr(cls, attribute, ()):
                other = self.serving(attribute, value)
                if other is not None:
                    raise ValueError(f"{self.what} kind {kind!r}: {attribute[:-1] if attribute.endswith('s') else attribute}"
                                     f" {value!r} is served by {other.kind!r}")
        self[kind] = cls
        return cls

    def serving(self, attribute: str, value) -> type | None:
        """The kind that claims `value` in its `attribute`, if any."""
        return next((cls for cls in self.values() if value in getattr(cls, attribute, ())), None)
