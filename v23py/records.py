"""Plain data records: classes compared and shown by their fields, as dataclasses are.

``@dataclass`` compiles the methods it generates (``__init__``, ``__repr__``, ``__eq__``, ...)
from source text each time a module using it is imported: ~5 M instructions a class, paid
by every program at every start (syncbased's start-up had eight).  A record here writes
its own ``__init__`` and names its fields in ``_fields``; the rest comes from these bases,
defined once.

``NamedTuple`` here is ``typing.NamedTuple`` (the same class syntax; type checkers see
typing's) for a third of the cost: typing checks every field's annotation, which under
``from __future__ import annotations`` compiles each one (~1.5 M instructions for a
five-field class); here the annotations name the fields only, and
``collections.namedtuple`` makes the class (~0.45 M).
"""
from __future__ import annotations

import collections
from typing import TYPE_CHECKING, Any

__all__ = ["Record", "FrozenRecord", "NamedTuple"]


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


if TYPE_CHECKING:
    from typing import NamedTuple as NamedTuple
else:
    class _NamedTupleType(type):
        """``class P(NamedTuple): x: int; y: int = 0`` gives ``collections.namedtuple("P",
        ("x", "y"), defaults=(0,))`` with the class body's methods, docstring and other
        attributes set on it; the annotations are not evaluated."""

        def __new__(mcls, name, bases, ns):
            if not bases:
                return super().__new__(mcls, name, bases, ns)   # (NamedTuple itself)
            if "__annotations__" not in ns and "__annotate__" in ns:
                # (Python 3.14+ evaluates annotations lazily, unless the module has
                # 'from __future__ import annotations', which every user here has)
                raise TypeError(f"{name}: a NamedTuple needs 'from __future__ import "
                                "annotations' in its module")
            fields = tuple(ns.get("__annotations__", ()))
            defaults = [ns[f] for f in fields if f in ns]
            if any(f not in ns for f in fields[len(fields) - len(defaults):]):
                raise TypeError(f"{name}: a field without a default follows one with a default")
            cls = collections.namedtuple(name, fields, defaults=defaults,
                                         module=ns.get("__module__"))
            for key, value in ns.items():
                if key not in fields and key != "__module__":
                    setattr(cls, key, value)
            return cls

    class NamedTuple(metaclass=_NamedTupleType):
        """Base of a named tuple class (see the module's docstring)."""
