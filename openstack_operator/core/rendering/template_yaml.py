"""The values templates' output read without PyYAML's generic path, when it keeps to the subset they print.

A template prints block mappings (one `key:` or `key: value` a line, comments, blank lines) whose values are JSON
(every value through `|tojson`), a plain word, number, boolean or null, a literal block scalar (`|`), or now and then
a YAML flow mapping written by hand. For that subset a line is one mapping entry: the block structure is read here
from the indentation, JSON with json's decoder (refusing what YAML reads otherwise: exponents, NaN, `\\/` and
surrogate escapes, a key too long to be a YAML simple key), plain words by PyYAML's rules, and every other value is
handed to `parse_values`, which reads them all at once with PyYAML as the entries of one block sequence (each must
stay on its line and be a scalar, or the collection its first character opens). Anything else (sequences, quoted
keys, multi-line values, `|-`, `>`, ...) gives UNSUPPORTED, and the caller parses the text with PyYAML: this reads a
text exactly as yaml.safe_load does, or not at all. Most of a render's time went to PyYAML's parser; this is several
times faster (tests/unit/test_template_yaml.py compares both).
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Final

UNSUPPORTED: Final = object()  # the text is outside the subset: parse it with PyYAML

# Characters YAML reads as themselves anywhere, the line feed aside: any other (tab, CR, NEL, the Unicode line
# separators, BOM, non-printable) has a meaning or a rule of its own in YAML, so such a text goes to PyYAML.
_IRREGULAR = re.compile("[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")
# `key:` or `key: rest`, the key a plain word (quoted keys and `? ` keys are outside the subset); `- rest`, an entry
# of a block sequence
_ENTRY = re.compile(r"( *)([A-Za-z_][A-Za-z0-9_./-]{0,200}):(?: +(.*))?")
_ITEM = re.compile(r"( *)-(?: +(.*))?")
# plain words YAML 1.1 (PyYAML's implicit resolvers) reads as booleans or null; every other word is a string
_WORDS: Final[dict[str, Any]] = {
    **dict.fromkeys(["yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"], True),
    **dict.fromkeys(["no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"], False),
    **dict.fromkeys(["null", "Null", "NULL", "~"], None),
}
# a plain word no YAML 1.1 resolver reads (PyYAML's look at its first character: only booleans and null start with a
# letter, and those are in _WORDS); commas are plain text outside a flow collection
_WORD = re.compile(r"[A-Za-z_/][A-Za-z0-9_./,-]*")
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")  # no sign +, underscores, octal, hex or sexagesimal: PyYAML's own rules
_FLOAT = re.compile(r"-?[0-9]+\.[0-9]+")
# JSON escapes YAML may read otherwise: `\/` (not every libyaml knows it) and surrogates (JSON pairs them up)
_RISKY_ESCAPE = re.compile(r"\\(?:/|u[dD][89a-fA-F])")
# A JSON text longer than this may hold a key YAML does not take as a simple key (1024 characters at most)
_LONG = 900
_SPACED_KEY = re.compile(r'" +:')  # a key with spaces before its colon: longer than its characters say
_KEY_CHARS = 100  # a decoded key's characters: at most 6 each in JSON (\uXXXX), so at most 602 in the text


class _Outside(Exception):
    """The JSON holds a number or constant YAML reads otherwise."""


def _decimal(text: str) -> float:
    if "e" in text or "E" in text:  # YAML 1.1 reads 1e5 as a string, and 1.5e5 too (its exponent has no sign)
        raise _Outside(text)
    return float(text)


def _constant(text: str) -> Any:
    raise _Outside(text)  # NaN, Infinity: strings to YAML


def _short_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if any(len(key) > _KEY_CHARS for key, _ in pairs):
        raise _Outside("long key")
    return dict(pairs)


_JSON = json.JSONDecoder(parse_float=_decimal, parse_constant=_constant)
_JSON_SHORT_KEYS = json.JSONDecoder(parse_float=_decimal, parse_constant=_constant, object_pairs_hook=_short_keys)


ParseValues = Callable[[list[str]], "list[Any] | None"]


class _Pending:
    """The place of a value left to parse_values: set once all are parsed, unless a later duplicate key replaced it."""

    __slots__ = ("container", "key")

    def __init__(self, container: dict[str, Any] | list[Any], key: Any) -> None:
        self.container, self.key = container, key


def load(text: str, parse_values: ParseValues) -> Any:
    """The text as yaml.safe_load reads it, or UNSUPPORTED. `parse_values(texts)`: the values of these YAML texts,
    each read as an entry of a block sequence, in order; None if any is not one single-line scalar or flow
    collection."""
    if _IRREGULAR.search(text):
        return UNSUPPORTED
    reader = _Reader(text.split("\n"), risky=_RISKY_ESCAPE.search(text) is not None)
    if not reader.read() or not reader.root:
        return UNSUPPORTED
    values = parse_values([text for _, text in reader.pending]) if reader.pending else []
    if values is None:
        return UNSUPPORTED
    for (place, _), value in zip(reader.pending, values, strict=True):
        if isinstance(place.container, list) or place.container.get(place.key) is place:  # not replaced since
            place.container[place.key] = value
    return reader.root


class _Reader:
    """One text read line by line: the open mappings and sequences, the last `key:` without a value, the values
    left to parse_values."""

    def __init__(self, lines: list[str], risky: bool) -> None:
        self.lines = lines
        self.risky = risky  # the text has an escape JSON and YAML may read otherwise: check each JSON value
        self.root: dict[str, Any] = {}
        self.stack: list[tuple[int, dict[str, Any] | list[Any]]] = [(0, self.root)]  # entries' indent, container
        self.opened: tuple[dict[str, Any], str, int] | None = None  # `key:` without a value: mapping, key, indent
        self.pending: list[tuple[_Pending, str]] = []  # values left to parse_values, with their text

    def read(self) -> bool:
        """Every line read into root and pending; False at the first outside the subset."""
        index = 0
        while index < len(self.lines):
            line = self.lines[index]
            index += 1
            entry = _ENTRY.fullmatch(line)
            if entry is not None:
                spaces, key, rest = entry.groups()
            elif (item := _ITEM.fullmatch(line)) is not None:
                (spaces, rest), key = item.groups(), None
            elif not line.strip(" ") or line.lstrip(" ")[0] == "#":  # a blank or comment line
                continue
            else:
                return False
            container = self._container(len(spaces), is_item=key is None)
            if isinstance(container, list):
                if not self._item(container, rest):
                    return False
            elif container is None or key is None or key in _WORDS:
                return False
            else:
                index = self._entry(container, key, rest, len(spaces), index)
                if index < 0:
                    return False
        return True

    def _container(self, indent: int, is_item: bool) -> dict[str, Any] | list[Any] | None:
        """The mapping or sequence a line at this indent belongs to; None if YAML would not read it so (deeper
        than an entry with a value, between two levels, a key among a sequence's entries or the reverse)."""
        if self.opened is not None:  # its value is the mapping or sequence that starts here, if indented deeper
            mapping, key, opened_indent = self.opened
            self.opened = None
            if indent > opened_indent:
                child: dict[str, Any] | list[Any] = [] if is_item else {}
                mapping[key] = child
                self.stack.append((indent, child))
        while self.stack[-1][0] > indent:
            self.stack.pop()
        level, container = self.stack[-1]
        return container if level == indent and isinstance(container, list) == is_item else None

    def _item(self, sequence: list[Any], rest: str | None) -> bool:
        if not rest or rest[0] == "#":  # `-` alone: a block follows, left to PyYAML
            return False
        value = _value(rest, self.risky)
        if value is _OTHER:
            value = _Pending(sequence, len(sequence))
            self.pending.append((value, rest))
        sequence.append(value)
        return value is not UNSUPPORTED

    def _entry(self, mapping: dict[str, Any], key: str, rest: str | None, indent: int, index: int) -> int:
        """`key: rest` read into the mapping; the index of the next line to read, -1 if outside the subset."""
        if not rest or rest[0] == "#":
            mapping[key] = None  # null unless a deeper mapping or sequence follows; set now: the key keeps its place
            self.opened = (mapping, key, indent)
            return index
        if rest[0] == "|" and rest.partition(" #")[0].rstrip(" ") == "|":
            mapping[key], index = _literal(self.lines, index, indent)
            return -1 if mapping[key] is UNSUPPORTED else index
        value = _value(rest, self.risky)
        if value is _OTHER:
            value = _Pending(mapping, key)
            self.pending.append((value, rest))
        mapping[key] = value
        return -1 if value is UNSUPPORTED else index


_OTHER: Final = object()  # a value for parse_values


def _value(rest: str, risky: bool) -> Any:
    """The value after `key: `: JSON, or a plain word, number, boolean or null, then maybe a comment; _OTHER for
    another single-line value; UNSUPPORTED for a block scalar's header (its text is on the next lines)."""
    if rest[0] in '{["':
        if (risky and _RISKY_ESCAPE.search(rest)) or (len(rest) > _LONG and _SPACED_KEY.search(rest)):
            return _OTHER
        try:
            value, end = (_JSON_SHORT_KEYS if len(rest) > _LONG else _JSON).raw_decode(rest)
        except (ValueError, _Outside):
            return _OTHER  # not JSON (a flow mapping written by hand), or JSON YAML reads otherwise
        tail = rest[end:]
        if tail.strip(" ") and not (tail[0] == " " and tail.lstrip(" ")[0] == "#"):
            return _OTHER
        return value
    word = rest.partition(" #")[0].rstrip(" ")
    if word in _WORDS:
        return _WORDS[word]
    if _INT.fullmatch(word):
        return int(word)
    if _FLOAT.fullmatch(word):
        return float(word)
    if _WORD.fullmatch(word):
        return word
    # `|`, `>`, with their indicators and maybe after a tag or an anchor: a block scalar, whose text follows
    return UNSUPPORTED if word.rsplit(" ", 1)[-1][:1] in ("|", ">") else _OTHER


def _literal(lines: list[str], index: int, key_indent: int) -> tuple[Any, int]:
    """A `|` block scalar's text from lines[index:] and the index of the line after it. Only its simplest form:
    every line of it holds text at the indent of the first or deeper (an empty or blank line, whose meaning depends
    on where it is, is left to PyYAML), and a line break follows the last; the text keeps that one."""
    first = lines[index] if index < len(lines) else ""
    indent = len(first) - len(first.lstrip(" "))
    if indent <= key_indent or not first.strip(" "):
        return UNSUPPORTED, index
    end = index
    while end < len(lines) and not lines[end][:indent].strip(" ") and lines[end].strip(" "):
        end += 1
    if end == len(lines):
        return UNSUPPORTED, index  # the text ends without a line break after it
    if not lines[end].strip(" ") and not (end == len(lines) - 1 and not lines[end]):
        return UNSUPPORTED, index  # a blank line after it, unless the text's end after its final line break
    return "".join(line[indent:] + "\n" for line in lines[index:end]), end
