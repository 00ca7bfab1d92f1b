"""Coercion of API parameters as the stripe SDK form-encodes them (nested dicts of strings).

`items[0][price]=price_x` arrives as `{"items": {"0": {"price": "price_x"}}}` (or as a list,
depending on the decoder); booleans and integers arrive as strings. Python callers of the World
pass real ints, bools and lists; both are accepted.
"""

from __future__ import annotations

from typing import Any

from revenue_assets.sandbox.errors import SandboxError, invalid

Obj = dict[str, Any]


def required(params: Obj, name: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        raise SandboxError(
            400, f"Missing required param: {name}.", code="parameter_missing", param=name
        )
    return value


def text(params: Obj, name: str, default: str | None = None) -> str | None:
    """A string parameter; an empty string means "unset" (None), as in Stripe's API."""
    if name not in params:
        return default
    value = params[name]
    if value is None or value == "":
        return None
    if isinstance(value, (dict, list)):
        raise invalid(f"Invalid string: {name}", name)
    return str(value)


def integer(
    params: Obj, name: str, default: int | None = None, *, minimum: int | None = None
) -> int | None:
    if name not in params or params[name] in (None, ""):
        return default
    value = params[name]
    if isinstance(value, bool):
        raise invalid(f"Invalid integer: {value}", name)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid(f"Invalid integer: {value}", name) from None
    if minimum is not None and number < minimum:
        raise invalid(f"Invalid {name}: must be greater than or equal to {minimum}", name)
    return number


def number(params: Obj, name: str) -> float | None:
    if name not in params or params[name] in (None, ""):
        return None
    try:
        return float(params[name])
    except (TypeError, ValueError):
        raise invalid(f"Invalid decimal: {params[name]}", name) from None


def boolean(params: Obj, name: str, default: bool | None = None) -> bool | None:
    if name not in params or params[name] in (None, ""):
        return default
    value = params[name]
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "1"):
        return True
    if str(value).lower() in ("false", "0"):
        return False
    raise invalid(f"Invalid boolean: {value}", name)


def listing(params: Obj, name: str) -> list[Any] | None:
    """A list parameter, whether decoded as a list or as a dict keyed "0", "1", ..."""
    if name not in params:
        return None
    value = params[name]
    if value in ("", None):
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        try:
            return [value[key] for key in sorted(value, key=int)]
        except ValueError:
            raise invalid(f"Invalid array: {name}", name) from None
    return [value]


def mapping(params: Obj, name: str) -> Obj | None:
    if name not in params:
        return None
    value = params[name]
    if value in ("", None):
        return {}
    if not isinstance(value, dict):
        raise invalid(f"Invalid object: {name}", name)
    return value


def metadata(params: Obj) -> Obj | None:
    """`metadata[key]=value` pairs; an empty value deletes a key (`metadata=""` clears all)."""
    if "metadata" not in params:
        return None
    value = params["metadata"]
    if value in ("", None):
        return {"": None}  # marker: clear everything
    if not isinstance(value, dict):
        raise invalid("Invalid object: metadata", "metadata")
    return {str(key): (None if item in ("", None) else str(item)) for key, item in value.items()}


def merge_metadata(current: Obj, changes: Obj) -> Obj:
    if "" in changes and changes[""] is None:
        return {}
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def timestamp(params: Obj, name: str, now: int, *, allow_now: bool = False) -> int | str | None:
    if name not in params or params[name] in (None, ""):
        return None
    value = params[name]
    if allow_now and value == "now":
        return "now"
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid(f"Invalid timestamp: {value}", name) from None
