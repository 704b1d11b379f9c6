"""Plain data records: classes compared and shown by their fields, as dataclasses are.

``@dataclass`` compiles the methods it generates (``__init__``, ``__repr__``, ``__eq__``, ...)
from source text each time a module using it is imported: ~5 M instructions a class, paid
by every program at every start (syncbased's start-up had eight).  A record here writes
its own ``__init__`` and names its fields in ``_fields``; the rest comes from these bases,
defined once.
"""
from __future__ import annotations

from typing import Any

__all__ = ["Record", "FrozenRecord"]


class Record:
    """Mutable: equal when of the same class with equal fields; unhashable; shown as
    ``Name(field=value, ...)``."""
    _fields: tuple[str, ...] = ()
    __hash__ = None  # type: ignore[assignment]

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f) for f in self._fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Record)
        return self._values() == other._values()

    def __repr__(self) -> str:
        fields = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{self.__class__.__qualname__}({fields})"


class FrozenRecord(Record):
    """Immutable and hashed by its fields; ``__init__`` fills them in with ``_set``."""

    def __hash__(self) -> int:  # type: ignore[override]  # (hashable again)
        return hash(self._values())

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    def _set(self, **fields: Any) -> None:
        self.__dict__.update(fields)
