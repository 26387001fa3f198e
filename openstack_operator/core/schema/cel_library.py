"""CEL as kube-apiserver evaluates the CRDs' rules, on top of celpy, so that the offline validator gives the API
server's verdict:

- `&&` and `||` skip their right operand when the left one decides (celpy evaluates both: a guard such as
  `isIP(x) && ip(x)...` would not keep the right side from failing, and errors combined in a macro grow without
  bound);
- the Kubernetes functions celpy lacks: the IP and CIDR libraries (isIP, ip, isCIDR, cidr and their methods) and
  the strings extension's split. Parsing follows Go's net/netip as Kubernetes uses it: IPv4 in four decimal parts
  without leading zeros, no IPv6 zone, no IPv4-mapped IPv6 address; a CIDR's prefix length in decimal without a
  leading zero, at most 32 or 128; a CIDR may have host bits set (`masked()` clears them).

tests/unit/test_cel_library.py holds the cases, with the API server's answers.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Callable

import celpy
import lark
from celpy import celtypes
from celpy.evaluation import CELEvalError, Evaluator

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_PREFIX_LENGTH = re.compile(r"0|[1-9][0-9]{0,2}")


@dataclass(frozen=True)
class IP:
    address: Address


@dataclass(frozen=True)
class CIDR:
    address: Address  # as written: host bits kept
    bits: int

    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network((self.address, self.bits), strict=False)


def parse_ip(text: str) -> Address | None:
    if "%" in text:  # an IPv6 zone
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return None
    return address


def parse_cidr(text: str) -> CIDR | None:
    address_text, slash, bits = text.partition("/")
    address = parse_ip(address_text) if slash and _PREFIX_LENGTH.fullmatch(bits) else None
    if address is None or int(bits) > address.max_prefixlen:
        return None
    return CIDR(address, int(bits))


def _error(kind: str, value: Any) -> CELEvalError:
    return CELEvalError(f"{kind} {str(value)!r} parse error during conversion from string")


def _is_ip(value: Any) -> Any:
    return celtypes.BoolType(isinstance(value, str) and parse_ip(value) is not None)


def _ip(value: Any) -> Any:
    """ip(<string>) -> IP, and <CIDR>.ip(): the address as written."""
    if isinstance(value, CIDR):
        return IP(value.address)
    address = parse_ip(value) if isinstance(value, str) else None
    return IP(address) if address is not None else _error("IP Address", value)


def _is_cidr(value: Any) -> Any:
    return celtypes.BoolType(isinstance(value, str) and parse_cidr(value) is not None)


def _cidr(value: Any) -> Any:
    parsed = parse_cidr(value) if isinstance(value, str) else None
    return parsed if parsed is not None else _error("network address", value)


def _family(value: Any) -> Any:
    return celtypes.IntType(value.address.version) if isinstance(value, IP) else CELEvalError("no such overload")


def _contains_ip(cidr: Any, other: Any) -> Any:
    address = other.address if isinstance(other, IP) else parse_ip(other) if isinstance(other, str) else None
    if not isinstance(cidr, CIDR) or address is None:
        return _error("IP Address", other)
    return celtypes.BoolType(address.version == cidr.address.version and address in cidr.network())


def _contains_cidr(cidr: Any, other: Any) -> Any:
    inner = other if isinstance(other, CIDR) else parse_cidr(other) if isinstance(other, str) else None
    if not isinstance(cidr, CIDR) or inner is None:
        return _error("network address", other)
    return celtypes.BoolType(inner.address.version == cidr.address.version and inner.bits >= cidr.bits
                             and inner.address in cidr.network())


def _masked(cidr: Any) -> Any:
    return CIDR(cidr.network().network_address, cidr.bits) if isinstance(cidr, CIDR) else \
        CELEvalError("no such overload")


def _prefix_length(cidr: Any) -> Any:
    return celtypes.IntType(cidr.bits) if isinstance(cidr, CIDR) else CELEvalError("no such overload")


def _split(text: Any, separator: Any, limit: Any = -1) -> Any:
    """<string>.split(<string>[, <int>]) of cel-go's strings extension (Go's strings.SplitN)."""
    if not isinstance(text, str) or not isinstance(separator, str):
        return CELEvalError("no such overload")
    if limit == 0:
        return celtypes.ListType([])
    parts = (list(text) if separator == "" else text.split(separator)) if limit < 0 else \
        (list(text[:limit - 1]) + ([text[limit - 1:]] if text[limit - 1:] else []) if separator == ""
         else text.split(separator, limit - 1))
    return celtypes.ListType([celtypes.StringType(part) for part in parts])


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "split": _split,
    "isIP": _is_ip,
    "ip": _ip,
    "family": _family,
    "isCIDR": _is_cidr,
    "cidr": _cidr,
    "containsIP": _contains_ip,
    "containsCIDR": _contains_cidr,
    "masked": _masked,
    "prefixLength": _prefix_length,
}


_MAX_ERROR = 300


class _ShortCircuit(Evaluator):
    """`a || b` and `a && b` as CEL has them: b is evaluated only when a does not decide, and an error on one
    side is absorbed when the other decides (commutative)."""

    def visit(self, tree: lark.Tree[Any]) -> Any:
        value = super().visit(tree)
        if isinstance(value, CELEvalError) and len(value.args) > 1:
            # celpy keeps the causes' reprs in an error: nested, they would grow without bound. The message stays.
            return CELEvalError(str(value.args[0])[:_MAX_ERROR])
        return value

    def conditionalor(self, tree: lark.Tree[Any]) -> Any:
        return self._logical(tree, decisive=True) if len(tree.children) == 2 else super().conditionalor(tree)

    def conditionaland(self, tree: lark.Tree[Any]) -> Any:
        return self._logical(tree, decisive=False) if len(tree.children) == 2 else super().conditionaland(tree)

    def _logical(self, tree: lark.Tree[Any], decisive: bool) -> Any:
        left = self.visit(tree.children[0])
        if isinstance(left, celtypes.BoolType) and bool(left) == decisive:
            return left
        right = self.visit(tree.children[1])
        if isinstance(right, celtypes.BoolType) and (bool(right) == decisive or isinstance(left, celtypes.BoolType)):
            return right
        error = next((v for v in (left, right) if isinstance(v, CELEvalError)), None)
        return error or CELEvalError(f"no matching overload for _{'||' if decisive else '&&'}_")


class _Runner(celpy.InterpretedRunner):
    def evaluate(self, context: Any) -> Any:
        return _ShortCircuit(ast=self.ast, activation=self.new_activation()).evaluate(context)


def program(expression: str) -> Any:
    """A runnable CEL program with the Kubernetes functions: `.evaluate({"self": ...})`."""
    environment = celpy.Environment(runner_class=_Runner)
    return environment.program(environment.compile(expression), functions=FUNCTIONS)
