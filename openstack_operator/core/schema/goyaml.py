"""How kubectl reads YAML (sigs.k8s.io/yaml: go-yaml v2, then JSON), where PyYAML reads the same text otherwise:
which plain scalars are booleans, numbers or null, and how a non-string mapping key becomes a JSON key. Pure
functions over scalars; core.schema.yaml_input applies them while it builds a document."""

from __future__ import annotations

import math
import re
import struct
from typing import Any

_BOOLS = {**dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
          **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False)}
_NULLS = frozenset(("", "~", "null", "Null", "NULL"))
_SPECIAL_FLOATS = {**dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
                   **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
                   **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf)}
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
# Go's strconv.ParseInt/ParseUint with base 0: an optional sign, then decimal, 0x, 0o, 0b or a leading-0 octal.
_INT = re.compile(r"[-+]?(0[xX][0-9a-fA-F]+|0[oO]?[0-7]+|0[bB][01]+|[1-9][0-9]*|0)")
_INT64 = (-(2 ** 63), 2 ** 64 - 1)  # ParseInt, then ParseUint


def _go_int(text: str) -> int | None:
    if not _INT.fullmatch(text):
        return None
    sign, digits = (-1, text[1:]) if text[0] == "-" else (1, text.lstrip("+"))
    lower = digits[:2].lower()
    if lower in ("0x", "0o", "0b"):
        value = int(digits[2:], {"0x": 16, "0o": 8, "0b": 2}[lower])
    else:
        value = int(digits, 8) if len(digits) > 1 and digits[0] == "0" else int(digits)
    value *= sign
    return value if _INT64[0] <= value <= _INT64[1] else None


def resolve_plain(text: str) -> Any:
    """A plain (unquoted, untagged) scalar as go-yaml v2 resolves it into an interface{}: YAML 1.1 booleans (`y`,
    `on`, `no`, ...), nulls, ints (Go's base prefixes, `_` ignored), floats (`1e3` too); timestamps stay strings
    (go-yaml v2 keeps the text for an interface{}), as does everything else (`12:30` is no sexagesimal number)."""
    if text in _BOOLS:
        return _BOOLS[text]
    if text in _NULLS:
        return None
    if text in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[text]
    if not text or text[0] not in "+-.0123456789":
        return text
    if text[0] == ".":
        return float(text) if _FLOAT.fullmatch(text) else text
    plain = text.replace("_", "")
    number = _go_int(plain)
    if number is not None:
        return number
    if _FLOAT.fullmatch(plain):
        return float(plain)
    return text


def _float32(value: float) -> float:
    try:
        return float(struct.unpack("f", struct.pack("f", value))[0])
    except OverflowError:
        return math.copysign(math.inf, value)


def _float_key(value: float) -> str:
    """Go's strconv.FormatFloat(value, 'g', -1, 32), as sigs.k8s.io/yaml turns a float key into a string."""
    single = _float32(value)
    if math.isnan(single) or math.isinf(single):
        return ".nan" if math.isnan(single) else ".inf" if single > 0 else "-.inf"
    if single == 0:
        return "-0" if math.copysign(1, single) < 0 else "0"
    for precision in range(9):  # the shortest decimal that reads back as the same float32
        text = f"{single:.{precision}e}"
        if _float32(float(text)) == single:
            break
    mantissa, exponent = text.split("e")
    sign = "-" if mantissa.startswith("-") else ""
    digits, power = mantissa.lstrip("-").replace(".", "").rstrip("0") or "0", int(exponent)
    if power < -4 or power >= 6:  # %e, at least two exponent digits
        body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{body}e{'-' if power < 0 else '+'}{abs(power):02d}"
    if power < 0:
        return f"{sign}0.{'0' * (-power - 1)}{digits}"
    whole, fraction = digits[:power + 1].ljust(power + 1, "0"), digits[power + 1:]
    return f"{sign}{whole}{'.' + fraction if fraction else ''}"


def json_key(key: Any) -> str | None:
    """A mapping key as sigs.k8s.io/yaml writes it into JSON: booleans "true"/"false", numbers in Go's format;
    None for a key it refuses (null, a mapping or a list)."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        return _float_key(key)
    if isinstance(key, bytes):
        return key.decode("utf-8", "replace")
    return None
