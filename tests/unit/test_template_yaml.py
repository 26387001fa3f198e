"""core.rendering.template_yaml reads a text exactly as PyYAML's safe loader does, or leaves it to PyYAML."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.rendering import template_yaml
from openstack_operator.core.rendering.renderer import Renderer, _sequence_entries, load_yaml, yaml_safe_json
from openstack_operator.core.secrets.ceph import placeholder_exchange
from openstack_operator.core.secrets.credentials import placeholder_credentials, required_credentials
from openstack_operator.core.schema.manifest import load_osdpl

from .conftest import load_example


def _exact(value: Any) -> Any:
    """The value with its types and order: 1, 1.0 and True, or two orders of a mapping, differ."""
    if isinstance(value, dict):
        return "map", [(_exact(key), _exact(item)) for key, item in value.items()]
    if isinstance(value, list):
        return "list", [_exact(item) for item in value]
    return type(value).__name__, repr(value)


def _reads_as_pyyaml(text: str) -> bool:
    """True if the fast reader took the text (and read it as PyYAML does); False if it left it to PyYAML."""
    try:
        expected = yaml.load(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, TypeError):  # TypeError: an unhashable key (a mapping or list as a key)
        assert template_yaml.load(text, _sequence_entries) is template_yaml.UNSUPPORTED, text
        return False
    document = template_yaml.load(text, _sequence_entries)
    if document is template_yaml.UNSUPPORTED:
        return False
    assert _exact(document) == _exact(expected), text
    assert _exact(load_yaml(text)) == _exact(expected), text
    return True


@pytest.mark.parametrize("example", ["minimal", "full"])
def test_every_templates_output_is_read_as_pyyaml_reads_it(catalog: Catalog, example: str) -> None:
    renderer = Renderer(catalog)
    osdpl = load_osdpl(catalog, load_example(example))
    enabled = osdpl.spec.enabled_services(catalog)
    credentials = placeholder_credentials(catalog, required_credentials(catalog, enabled))
    renderer.render(osdpl.spec, credentials, osdpl.namespace, ceph=placeholder_exchange())
    texts = [text for text, _ in renderer._parsed.values()]
    assert texts
    # every one of them today: a template that leaves the subset is still read right, only slower
    assert sum(_reads_as_pyyaml(text) for text in texts) >= len(texts) - 2


@pytest.mark.parametrize("text", [
    'a: {"b": [1, -2, 0.5, -0.0, true, false, null, "x", {}, []], "c": "\\u003c\\n\\t\\"\\\\"}\n',
    "a:\n  b:\n    c: 1\n  # a comment\n\n  d: word  # a comment\ne: -0\n",
    "a: /etc/ceph/ceph.conf\nb: port_security,dns_domain_ports\nc: 1.0\nd: ~\ne:\n",
    "a: {name: x, emptyDir: {}}\nb: [a, {c: d}]  # hand-written flow\nc: 'it''s'\nd: yes\ne: 0x1f\n",
    "a: |\n  line one\n    deeper\n  # not a comment\nb: 1\n",
    "a: |  # the header's comment\n  text\n",
    "a: 1\na: 2\nb:\n  c: 1\nb: {\"d\": 2}\n",  # duplicate keys: the last value, at the first key's place
    'a: {"x": 1}\na: {y: 2}\n',
    'a:\n  - {"b": 1}\n  - {c: d}  # hand-written\n  # a comment\n  - word\ne:\n    - 1\n    - "x"\n',
])
def test_the_subset_is_read_without_pyyaml(text: str) -> None:
    assert _reads_as_pyyaml(text)


@pytest.mark.parametrize("text", [
    'a: 1e5\nb: [1e-07]\nc: {"d": 1.5E+3}\n',  # YAML 1.1 reads these as strings
    'a: NaN\nb: [Infinity]\n',
    'a: "\\/"\n', 'a: "\\ud83d\\ude00"\n',  # JSON escapes YAML may read otherwise
    "yes: 1\n", "on:\n  a: 1\n", "null: 1\n", "1: a\n", '"quoted key": 1\n', "? a\n: b\n",
    "a:\n- 1\n- 2\n", "a:\n  -\n    b: 1\n", "a:\n  - b: 1\n", "a:\n  - - 1\n", "a:\n  - |\n    x\n",
    "a:\n  - 1\n  b: 2\n", "a:\n  b: 1\n  - 2\n", "a:\n  - 1\n    - 2\n", "a:\n  - 1\n   - 2\n", "-\n",
    "- a\n", "a: - b\n", "a: b: c\n", "a: ? b\n", "a:\n  - 1\n  -2\n", "a:\n  - # c\n",
    "a: 007\nb: 1_000\nc: 2026-01-02\nd: 1:30\ne: .inf\nf: +1\n",
    "a: b\n  c\n", "a: b\n\n    c\n",  # a plain scalar continued on the next lines
    'a: "b\n  c"\n', "a: {b: c,\n  d: e}\n", "a: [b,\n  c]\n",  # quoted and flow values over lines
    "a: 1\n  b: 2\n", "a:\n    b: 1\n  c: 2\n",  # indentation YAML refuses
    "a: |\n  x\n\n  y\n", "a: |\n  x\n", "a: |\n  x", "a: |-\n  x\n", "a: >\n  x\n  y\n", "a: &x |\n  y\n",
    "a: |\n x\nb: 1\n", "a: |\n\n  x\nb: 1\n",
    "a: &x {b: 1}\nc: *x\n", "a: &x b\nc: *x\nd: [*x]\n", "a: {<<: {b: 1}, c: 2}\n", "a: *x\n",
    "a: !!str 1\nb: !!int \"2\"\n", "%YAML 1.1\n---\na: 1\n", "---\na: 1\n", "a: 1\n...\n",
    "a:\tb\n", "a: b\r\nc: d\n", "\ufeffa: 1\n", "a: \x85\n", "a: \u2028\n", "a: \x07\n",
    'a: {"' + "k" * 1100 + '": 1}\n', "a: {" + "k" * 1100 + ": 1}\n",  # a key longer than YAML's simple keys
    'a: {"' + "\u00e9" * 300 + '": 1, "b": "' + "x" * 1000 + '"}\n',
    'a: {"b": 1} trailing\n', 'a: {"b": 1}# c\n', 'a: "b" "c"\n', 'a: {"b": 1}: c\n', "a: [b]: c\n",
    "", "# only a comment\n", "a", "a:b\n", "a :b\n", "a : b\n", "a: b #c\nd: e# f\n", "a: b\n c: d\n",
])
def test_what_the_subset_leaves_out_is_read_by_pyyaml(text: str) -> None:
    _reads_as_pyyaml(text)  # either way the same document, or the same refusal


_KEYS = st.sampled_from(["a", "b", "c", "_x", "a.b", "a-b", "a/b", "y"] * 4 +
                        ["on", "yes", "Null", "1", "k" * 210, "a b", '"a"'])
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8),
                     st.text(alphabet='ab"\\/\'#: \n\t\u2028\x85{}[],&*!|>-?', max_size=6))
_JSON = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=4), inner, max_size=3)),
                     max_leaves=8)
_RAW = st.sampled_from([
    "word", "/path/x", "a,b", "1", "-1", "0.5", "1e5", "007", "0x1f", "1_000", ".inf", "~", "", "yes", "Off", "NULL",
    "{a: b}", "[a, {b: c}]", "{a: [1, 2]}", "'q'", '"q"', "&x v", "*x", "!!str 1", "- a", "a: b", "? a", "|", ">",
    "|-", "{a: b", "b}", "a #c", "a# c", "[", "]", "{}", "[]", "{<<: {a: 1}}", "2026-01-02", "a b", "--- a", "... a",
    "%x", "@x", "`x",
])
_COMMENT = st.sampled_from(["", "", "", "  # c", " #c", "# c", "   "])
_BLOCK_LINES = st.lists(st.sampled_from(["x", "# y", "a: b", " z", "x  "]), min_size=1, max_size=3)


@st.composite
def _entries(draw: st.DrawFn, indent: int, depth: int) -> list[str]:
    """A block mapping's lines at `indent`: JSON, plain and hand-written values, nested mappings, block scalars."""
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        key, comment = draw(_KEYS), draw(_COMMENT)
        kind = draw(st.sampled_from(["json"] * 4 + ["raw", "map", "map", "null", "block", "sequence"]))
        pad = " " * indent
        if kind == "json":
            value = draw(_JSON)
            lines.append(f"{pad}{key}: {yaml_safe_json(value) if draw(st.booleans()) else json.dumps(value)}{comment}")
        elif kind == "raw":
            lines.append(f"{pad}{key}: {draw(_RAW)}{comment}")
        elif kind == "map" and depth < 3:
            lines.append(f"{pad}{key}:{comment}")
            lines += draw(_entries(indent + draw(st.sampled_from([2, 4, 1])), depth + 1))
        elif kind == "sequence":
            lines.append(f"{pad}{key}:{comment}")
            item_pad = " " * (indent + draw(st.sampled_from([2, 2, 4, 0])))
            lines += [f"{item_pad}- {draw(st.one_of(_JSON.map(json.dumps), _RAW))}{draw(_COMMENT)}"
                      for _ in range(draw(st.integers(1, 3)))]
        elif kind == "block":
            lines.append(f"{pad}{key}: |{comment}")
            lines += [" " * (indent + 2) + line for line in draw(_BLOCK_LINES)]
        else:
            lines.append(f"{pad}{key}:{comment}")
    return lines


_GLITCHES = st.sampled_from(["", "  ", "#", "- ", "\t", "---", " " * 5])


@st.composite
def _documents(draw: st.DrawFn) -> str:
    """A block mapping as the templates print it, sometimes with a glitch: a line indented or prefixed otherwise,
    a blank or comment line, a line break left out at the end."""
    lines = draw(_entries(0, 0))
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        where = draw(st.integers(0, len(lines) - 1))
        glitch = draw(_GLITCHES)
        lines[where] = glitch + lines[where] if glitch else draw(st.sampled_from(["", "  # c", "   "]))
    return "\n".join(lines) + draw(st.sampled_from(["\n", "\n", "", "\n\n"]))


@settings(max_examples=2000, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=_documents())
def test_generated_documents_read_as_pyyaml_reads_them(text: str) -> None:
    _reads_as_pyyaml(text)
