"""Judge a JSON object against the classes the pinned `stripe` SDK generates from Stripe's spec.

The sandbox must not judge itself: the rule for what Stripe sends comes from Stripe's generated
types, read here from their annotations.

- A field annotated without `Optional[...]` is required: Stripe always sends it, never null.
- `Optional[X]` is nullable or absent (the SDK marks both the same way).
- A key with no annotation is a field Stripe does not send.
- `Literal[...]` values are the spec's enum; `Union[Literal[...], str]` (the SDK's forward
  compatible enum) is held to the literals too, since a value outside them is one Stripe does not
  document.
- Nested classes, `List[X]`, `ListObject[X]` (a page: object, data, has_more, url), expandable
  fields (`Union[str, X]`: an id or the expanded object), unions of resources (told apart by
  `object`) and maps (`Dict[str, X]`, `UntypedStripeObject[X]`, e.g. metadata) are followed.

The SDK's annotations name classes imported only under `TYPE_CHECKING`; those forward
references are resolved from each module's own `if TYPE_CHECKING:` imports, read from its source.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
import typing
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, ForwardRef, Literal, Union

import stripe
from stripe._list_object import ListObject
from stripe._object_classes import OBJECT_CLASSES
from stripe._stripe_object import StripeObject, UntypedStripeObject

NONE = type(None)


class ByObject:
    """Stands for "the class named by the value's own `object`" (the elements of a top-level
    list page, an event's `data.object`, which the SDK types as `Any`)."""


@dataclass(frozen=True)
class Violation:
    """One difference between an object and its SDK class: `where` is `Class.field` (nested
    classes dotted: `Invoice.Parent.subscription_details`), `path` the JSON path in the object."""

    kind: str  # missing | extra | type | enum | unknown_object
    where: str
    path: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} {self.where} at {self.path}: {self.detail}"


def class_for(object_name: str) -> type[StripeObject] | None:
    """The SDK class of an object by its `object` value (`charge` -> `stripe.Charge`)."""
    found = OBJECT_CLASSES.get(object_name)
    if found is None:
        return None
    return getattr(importlib.import_module(found[0]), found[1])


@cache
def _namespace(module_name: str) -> dict[str, Any]:
    """A module's globals plus the names it imports under `if TYPE_CHECKING:`."""
    module = sys.modules[module_name]
    names = dict(vars(module))
    tree = ast.parse(inspect.getsource(module))
    for node in tree.body:
        if not (isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING"):
            continue
        for statement in node.body:
            if isinstance(statement, ast.ImportFrom) and statement.module:
                imported = importlib.import_module(statement.module)
                for alias in statement.names:
                    value = getattr(imported, alias.name, None)
                    if value is not None:
                        names[alias.asname or alias.name] = value
    return names


def _resolve(annotation: Any, owner: type) -> Any:
    if isinstance(annotation, str):
        annotation = ForwardRef(annotation)
    if isinstance(annotation, ForwardRef):
        namespace = _namespace(owner.__module__)
        return eval(annotation.__forward_arg__, namespace, dict(vars(owner)))
    return annotation


@cache
def fields_of(cls: type) -> dict[str, Any]:
    """The annotated data fields of an SDK class (ClassVars and private names left out)."""
    fields: dict[str, Any] = {}
    for name, annotation in vars(cls).get("__annotations__", {}).items():
        if name.startswith("_") or typing.get_origin(annotation) is typing.ClassVar:
            continue
        fields[name] = annotation
    return fields


def is_required(annotation: Any) -> bool:
    """Non-Optional: Stripe always sends it and never null."""
    return not (typing.get_origin(annotation) is Union and NONE in typing.get_args(annotation))


class Checker:
    """Validates objects and gathers violations; `checked` counts top-level objects seen and
    `valid` those with no violation."""

    def __init__(self) -> None:
        self.violations: list[Violation] = []
        self.checked: Counter[str] = Counter()
        self.valid: Counter[str] = Counter()

    # -- entry points -----------------------------------------------------------------------------

    def check(self, obj: Any, path: str = "$") -> list[Violation]:
        """Validate a top-level object (its class from `object`), counting it."""
        found: list[Violation] = []
        name = obj.get("object", "?") if isinstance(obj, dict) else "?"
        cls = class_for(name) if isinstance(name, str) else None
        if name == "list":
            self._list_object(obj, ByObject, ListObject, "list", path, found)
        elif cls is None:
            found.append(Violation("unknown_object", str(name), path, "no SDK class"))
        else:
            self._object(obj, cls, cls.__name__, path, found)
            if name == "event" and isinstance(obj.get("data"), dict):
                self._event_data(obj["data"], path, found)
        self.checked[name] += 1
        if not found:
            self.valid[name] += 1
        self.violations.extend(found)
        return found

    def _event_data(self, data: dict[str, Any], path: str, found: list[Violation]) -> None:
        """An event's `data.object` is typed `Any` by the SDK; judge it by its own class."""
        self._value(
            data.get("object"), ByObject, object, "Event.data", f"{path}.data.object", found
        )

    def summary(self) -> str:
        total = sum(self.checked.values())
        valid = sum(self.valid.values())
        by_place = Counter(f"{v.kind} {v.where}" for v in self.violations)
        lines = [f"objects checked: {total}, fully valid: {valid} ({valid / max(total, 1):.1%})"]
        lines += [f"  {count:6d}  {place}" for place, count in by_place.most_common()]
        return "\n".join(lines)

    # -- the walk ---------------------------------------------------------------------------------

    def _object(self, obj: Any, cls: type, where: str, path: str, found: list[Violation]) -> None:
        if not isinstance(obj, dict):
            found.append(Violation("type", where, path, f"expected object, got {_kind(obj)}"))
            return
        if obj.get("deleted") is True and set(obj) <= {"id", "object", "deleted"}:
            return  # Stripe's deleted stub of any deletable resource
        fields = fields_of(cls)
        for name, annotation in fields.items():
            if name not in obj:
                if is_required(annotation):
                    found.append(Violation("missing", f"{where}.{name}", path, "required field"))
                continue
            self._value(obj[name], annotation, cls, f"{where}.{name}", f"{path}.{name}", found)
        for name in obj:
            if name not in fields:
                found.append(Violation("extra", f"{where}.{name}", path, "not in the SDK class"))

    def _value(
        self,
        value: Any,
        annotation: Any,
        owner: type,
        where: str,
        path: str,
        found: list[Violation],
    ) -> None:
        annotation = _resolve(annotation, owner)
        if annotation is Any:
            return
        if annotation is ByObject:
            cls = class_for(str(value.get("object"))) if isinstance(value, dict) else None
            if cls is None:
                found.append(Violation("unknown_object", where, path, f"{_kind(value)}"))
            else:
                self._object(value, cls, cls.__name__, path, found)
            return
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin is Union:
            self._union(value, args, owner, where, path, found)
        elif origin is Literal:
            if value not in args:
                found.append(Violation("enum", where, path, f"{value!r} not in {list(args)}"))
        elif origin in (list, list):
            if not isinstance(value, list):
                found.append(Violation("type", where, path, f"expected list, got {_kind(value)}"))
                return
            for index, item in enumerate(value):
                self._value(item, args[0], owner, where, f"{path}[{index}]", found)
        elif origin in (dict, dict) or origin is UntypedStripeObject:
            if not isinstance(value, dict):
                found.append(Violation("type", where, path, f"expected map, got {_kind(value)}"))
                return
            item_type = args[-1] if args else Any
            for key, item in value.items():
                self._value(item, item_type, owner, where, f"{path}.{key}", found)
        elif origin is ListObject:
            self._list_object(value, args[0] if args else Any, owner, where, path, found)
        elif annotation is ListObject:
            self._list_object(value, Any, owner, where, path, found)
        elif annotation in (StripeObject, UntypedStripeObject, dict):
            if not isinstance(value, dict):
                found.append(Violation("type", where, path, f"expected map, got {_kind(value)}"))
        elif isinstance(annotation, type) and issubclass(annotation, StripeObject):
            self._object(value, annotation, _name(annotation), path, found)
        elif annotation is Decimal:
            if not _decimal_ok(value):
                found.append(
                    Violation("type", where, path, f"expected decimal string, got {value!r}")
                )
        elif annotation in (str, int, float, bool):
            if not _scalar_ok(value, annotation):
                found.append(
                    Violation("type", where, path, f"expected {annotation.__name__}, got {value!r}")
                )
        else:
            raise TypeError(f"sdk_types: unhandled annotation {annotation!r} at {where}")

    def _union(
        self,
        value: Any,
        args: tuple[Any, ...],
        owner: type,
        where: str,
        path: str,
        found: list[Violation],
    ) -> None:
        args = tuple(_resolve(arg, owner) for arg in args)
        if value is None:
            if NONE not in args:
                found.append(Violation("type", where, path, "null where Stripe sends a value"))
            return
        options = [arg for arg in args if arg is not NONE]
        literals = [a for a in options if typing.get_origin(a) is Literal]
        if literals:  # an enum, possibly with the SDK's `str` escape hatch
            allowed = [v for lit in literals for v in typing.get_args(lit)]
            if value not in allowed:
                found.append(Violation("enum", where, path, f"{value!r} not in {allowed}"))
            return
        if len(options) == 1:
            self._value(value, options[0], owner, where, path, found)
            return
        if isinstance(value, str) and str in options:
            return  # an unexpanded id
        classes = [a for a in options if isinstance(a, type) and issubclass(a, StripeObject)]
        if isinstance(value, dict) and classes:
            named = [c for c in classes if getattr(c, "OBJECT_NAME", None) == value.get("object")]
            if named:
                self._object(value, named[0], _name(named[0]), path, found)
                return
            if len(classes) == 1:
                self._object(value, classes[0], _name(classes[0]), path, found)
                return
        # Any other union: accept the first option the value satisfies.
        attempts = []
        for option in options:
            trial: list[Violation] = []
            self._value(value, option, owner, where, path, trial)
            if not trial:
                return
            attempts.append(trial)
        found.extend(min(attempts, key=len))

    def _list_object(
        self, value: Any, item: Any, owner: type, where: str, path: str, found: list[Violation]
    ) -> None:
        if not isinstance(value, dict):
            found.append(
                Violation("type", where, path, f"expected list object, got {_kind(value)}")
            )
            return
        if value.get("object") != "list":
            found.append(
                Violation("type", where, path, f"object {value.get('object')!r}, not list")
            )
        for name, kind in (("has_more", bool), ("url", str)):
            if not _scalar_ok(value.get(name), kind):
                found.append(Violation("type", f"{where}.{name}", path, f"{value.get(name)!r}"))
        for key in set(value) - {"object", "data", "has_more", "url", "total_count"}:
            found.append(Violation("extra", f"{where}.{key}", path, "not in a list object"))
        data = value.get("data")
        if not isinstance(data, list):
            found.append(Violation("type", f"{where}.data", path, "expected list"))
            return
        for index, element in enumerate(data):
            self._value(element, item, owner, where, f"{path}.data[{index}]", found)


def _scalar_ok(value: Any, kind: type) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind)


def _decimal_ok(value: Any) -> bool:
    """Stripe sends decimals (`unit_amount_decimal`) as strings, which the SDK turns into
    `Decimal`."""
    if not isinstance(value, str):
        return False
    try:
        Decimal(value)
    except InvalidOperation:
        return False
    return True


def _name(cls: type) -> str:
    return cls.__qualname__


def _kind(value: Any) -> str:
    return type(value).__name__


def sdk_version() -> str:
    return f"stripe {stripe.VERSION} (API {stripe.api_version})"
