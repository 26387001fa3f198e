"""From manifest bytes to documents, as kubectl reads them: UTF-8 (or UTF-16 with a BOM) text, YAML with go-yaml
v2's scalars and sigs.k8s.io/yaml's string keys (core.schema.goyaml), a duplicate key refused, and the bounds of
core.schema.limits (nesting depth, alias expansion) checked while each document is composed, before it is built,
so a bomb costs no more than its text. Every refusal is one InvalidYaml naming the source, line and column."""

from __future__ import annotations

import codecs
import math
from typing import Any

import yaml

from openstack_operator.core.errors import OperatorError
from openstack_operator.core.schema.goyaml import json_key, resolve_plain
from openstack_operator.core.schema.limits import MAX_ALIAS_NODES, MAX_DEPTH

_PLAIN = "tag:osop.dev,2026:plain"  # a plain scalar, resolved by go-yaml's rules when it is built
_MERGE = "tag:yaml.org,2002:merge"


class InvalidYaml(OperatorError):
    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where, self.problem = where, problem


class _Refused(Exception):
    def __init__(self, mark: Any, problem: str, kind: str = "refused") -> None:
        super().__init__(problem)
        self.mark, self.problem, self.kind = mark, problem, kind


class _Loader(yaml.SafeLoader):
    """A safe loader that reads scalars and keys as kubectl does, refuses duplicate keys, and refuses nesting deeper
    than MAX_DEPTH while it composes (PyYAML's composer recurses per level: a deep document would end in a
    RecursionError)."""

    depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.depth >= MAX_DEPTH and not self.check_event(yaml.ScalarEvent, yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise _Refused(mark, f"nested deeper than {MAX_DEPTH} levels (the limit of mappings and lists in one "
                                 "another)")
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            return _MERGE if value == "<<" else _PLAIN
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        """Keys as JSON keys before they meet in a dict (Python's True == 1 would merge `on:` and `1:`)."""
        if not isinstance(node, yaml.MappingNode):
            return super().construct_mapping(node, deep=deep)
        self.flatten_mapping(node)  # merge keys: merged pairs first, so the keys written here win
        mapping = {}
        for key_node, value_node in node.value:  # a plain key from its text: `.inf:` is a key, not a refused value
            key = _node_key(key_node) if key_node.tag == _PLAIN else None
            key = _key_text(self.construct_object(key_node, deep=True)) if key is None else key
            mapping[key] = self.construct_object(value_node, deep)
        return mapping


def _key_text(key: Any) -> str:
    text = json_key(key)
    return str(key) if text is None else text  # never None: _check_keys refused such keys before


def _node_key(node: yaml.Node) -> str | None:
    """A key node as its JSON key, as far as the text tells (no construction); None if kubectl refuses it."""
    if not isinstance(node, yaml.ScalarNode) or node.tag == "tag:yaml.org,2002:null":
        return None
    return json_key(resolve_plain(node.value)) if node.tag == _PLAIN else node.value


def _check_keys(root: yaml.Node) -> None:
    """Refuse a key written twice in one mapping (merged keys may be overridden: YAML's merge rule), and a key
    kubectl cannot turn into a JSON key (null, a mapping, a list). On the node graph, before anything is built."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen or isinstance(node, yaml.ScalarNode):
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
            continue
        first: dict[str, Any] = {}
        for key_node, value_node in node.value:
            stack.extend((key_node, value_node))
            if key_node.tag == _MERGE:
                continue
            key = _node_key(key_node)
            if key is None:
                what = "null" if isinstance(key_node, yaml.ScalarNode) else \
                    "a mapping" if isinstance(key_node, yaml.MappingNode) else "a list"
                raise _Refused(key_node.start_mark, f"unsupported map key: {what} (a key must be a string, a "
                                                    "number or a boolean)", kind="invalid YAML")
            if key in first:
                raise _Refused(key_node.start_mark, f'key "{key}" already set in map (first at line '
                                                    f'{first[key].line + 1})', kind="invalid YAML")
            first[key] = key_node.start_mark


def _plain(loader: _Loader, node: Any) -> Any:
    value = resolve_plain(node.value)
    if isinstance(value, float) and not math.isfinite(value):
        raise _Refused(node.start_mark, f"json: unsupported value: {node.value} (JSON has no NaN or infinity)",
                       kind="cannot convert YAML to JSON")
    return value


def _as_text(loader: _Loader, node: Any) -> Any:  # a timestamp: go-yaml v2 keeps its text
    return node.value


def _binary(loader: _Loader, node: Any) -> Any:
    return loader.construct_yaml_binary(node).decode("utf-8", "replace")


def _untagged(loader: _Loader, suffix: Any, node: Any) -> Any:
    """A node with a tag go-yaml does not know: its content, as kubectl reads it."""
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return node.value


def _as_mapping(loader: _Loader, node: Any) -> Any:  # !!set: a mapping of nulls, as go-yaml reads it
    return loader.construct_mapping(node, deep=True)


def _as_sequence(loader: _Loader, node: Any) -> Any:  # !!omap, !!pairs: a list of one-key mappings
    return loader.construct_sequence(node, deep=True)


_Loader.add_constructor(_PLAIN, _plain)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _as_text)
_Loader.add_constructor("tag:yaml.org,2002:binary", _binary)
_Loader.add_constructor("tag:yaml.org,2002:set", _as_mapping)
_Loader.add_constructor("tag:yaml.org,2002:omap", _as_sequence)
_Loader.add_constructor("tag:yaml.org,2002:pairs", _as_sequence)
_Loader.add_multi_constructor("", _untagged)


def _expansion(root: yaml.Node) -> tuple[int, int]:
    """How many nodes `root` holds with every alias expanded, and how deep it nests then, counted over the node
    graph (an anchor's node is shared by its aliases) without expanding anything: linear in the document's size,
    iterative. A recursive alias is refused."""
    sizes: dict[int, tuple[int, int]] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else \
            list(node.value) if isinstance(node, yaml.SequenceNode) else []
        if done:
            on_path.discard(id(node))
            inner = [sizes[id(c)] for c in children]
            sizes[id(node)] = (1 + sum(s for s, _ in inner),
                               (1 + max((d for _, d in inner), default=0)) if children or
                               not isinstance(node, yaml.ScalarNode) else 0)
            continue
        if id(node) in sizes:
            continue
        if id(node) in on_path:
            raise _Refused(node.start_mark, "a recursive alias (an anchor used inside itself)")
        on_path.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def _distinct(root: yaml.Node) -> int:
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            stack.extend(n for pair in node.value for n in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return len(seen)


def _check_expansion(node: yaml.Node) -> None:
    expanded, depth = _expansion(node)
    if expanded - _distinct(node) > MAX_ALIAS_NODES:
        raise _Refused(node.start_mark, f"YAML aliases expand to {expanded} nodes, more than the limit of "
                                        f"{MAX_ALIAS_NODES} added by aliases")
    if depth > MAX_DEPTH:
        raise _Refused(node.start_mark, f"YAML aliases nest it deeper than {MAX_DEPTH} levels (the limit of "
                                        "mappings and lists in one another)")


def decode_text(data: bytes, source: str) -> str:
    """Manifest bytes as text: UTF-8 (a BOM allowed), or UTF-16 with its BOM, as kubectl reads them."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise InvalidYaml(source, "invalid YAML: not valid UTF-16 text (it starts with a UTF-16 byte order "
                                      "mark)") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InvalidYaml(f"{source}:{line}:{column}", f"invalid YAML: not UTF-8 text (byte 0x{data[exc.start]:02x}"
                                                       "); a manifest is UTF-8 text") from None


def _where(source: str, text: str, mark: Any = None, position: int | None = None) -> str:
    if mark is not None:
        return f"{source}:{mark.line + 1}:{mark.column + 1}"
    if position is not None:
        line = text.count("\n", 0, position) + 1
        return f"{source}:{line}:{position - (text.rfind(chr(10), 0, position) + 1) + 1}"
    return source


def parse_yaml(text: str, source: str) -> list[Any]:
    """Every non-empty document of `text`; raises InvalidYaml."""
    documents = []
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # checks every character first
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            _check_expansion(node)
            _check_keys(node)
            doc = loader.construct_document(node)
            if doc is not None:
                documents.append(doc)
    except yaml.reader.ReaderError as exc:
        raise InvalidYaml(_where(source, text, position=exc.position),
                          f"invalid YAML: unacceptable character #x{exc.character:04x}: special characters "
                          "are not allowed") from None
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InvalidYaml(_where(source, text, getattr(exc, "problem_mark", None)),
                          f"invalid YAML: {problem}") from None
    except _Refused as refused:
        raise InvalidYaml(_where(source, text, refused.mark), f"{refused.kind}: {refused.problem}") from None
    finally:
        if loader is not None:
            loader.dispose()
    return documents
