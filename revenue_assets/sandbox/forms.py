"""Decode Stripe's form encoding (query strings and POST bodies) into nested dicts and lists.

Stripe's API takes `application/x-www-form-urlencoded` parameters with bracketed paths:
`metadata[plan]=pro`, `items[0][price]=price_1`, `expand[]=customer` (other clients) and
`expand[0]=customer` (the official SDKs index every list). World methods want the nested
structure those paths describe, with every leaf kept as the string the client sent, as Stripe
itself coerces types per parameter.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from revenue_assets.sandbox.errors import invalid

Params = dict[str, Any]

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
_APPEND = object()  # marker of an empty `[]` segment


def parse_pairs(pairs: list[tuple[str, str]]) -> Params:
    """Nest decoded `(key, value)` pairs: `a[b][0][c]=v` -> `{"a": {"b": [{"c": "v"}]}}`.

    Integer segments and `[]` make lists (integer indexes sorted, gaps closed); a plain key
    given twice keeps the last value, as Stripe does.
    """
    root: dict[str, Any] = {}
    for key, value in pairs:
        head, path = _split(key)
        node: dict[Any, Any] = root
        segments: list[Any] = [head, *path]
        for position, segment in enumerate(segments):
            last = position == len(segments) - 1
            if segment is _APPEND:
                # `a[]=x` appends; `a[][b]=x` starts a new element unless the open one lacks `b`.
                segment = _append_key(node, segments[position + 1] if not last else None)
            if last:
                node[segment] = value
                break
            child = node.get(segment)
            if not isinstance(child, dict):
                child = {}
                node[segment] = child
            node = child
    return _listify(root)


def parse_query(query: str | bytes) -> Params:
    """Decode a URL query string (or a form body) into nested parameters."""
    if isinstance(query, bytes):
        query = query.decode("latin-1" if not query.isascii() else "ascii")
    if not query:
        return {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError) as error:
        raise invalid(f"Invalid form encoding: {error}") from error
    return parse_pairs(pairs)


def _split(key: str) -> tuple[str, list[Any]]:
    """`a[b][]` -> ("a", ["b", _APPEND]); anything after a malformed bracket stays in the name."""
    bracket = key.find("[")
    if bracket <= 0:
        return key, []
    head, rest = key[:bracket], key[bracket:]
    path: list[Any] = []
    position = 0
    for match in _SEGMENT.finditer(rest):
        if match.start() != position:
            return key, []
        path.append(match.group(1) if match.group(1) != "" else _APPEND)
        position = match.end()
    if position != len(rest):
        return key, []
    return head, path


def _append_key(node: dict[Any, Any], next_segment: Any) -> Any:
    """The synthetic index for a `[]` segment: a new element, or the open one if it can take more."""
    appended = [k for k in node if isinstance(k, _Appended)]
    if appended and next_segment is not None:
        current = node[appended[-1]]
        if isinstance(current, dict) and next_segment not in current:
            return appended[-1]
    return _Appended(len(appended))


class _Appended(int):
    """An index produced by `[]`, kept apart from explicit indexes while parsing."""


def _listify(node: Any) -> Any:
    """Turn dicts whose keys are all indexes into lists ordered by index (recursively)."""
    if not isinstance(node, dict):
        return node
    items = {key: _listify(value) for key, value in node.items()}
    if items and all(isinstance(key, _Appended) or _is_index(key) for key in items):
        ordered = sorted(
            items.items(), key=lambda item: (isinstance(item[0], _Appended), int(item[0]))
        )
        return [value for _, value in ordered]
    return {str(key): value for key, value in items.items()}


def _is_index(key: Any) -> bool:
    return isinstance(key, str) and key.isdigit() and len(key) < 10


def as_list(value: Any) -> list[Any]:
    """A parameter that may arrive as one value or a list (`expand=x` vs `expand[0]=x`)."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return [value]
