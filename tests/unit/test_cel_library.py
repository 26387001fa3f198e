"""The offline CEL evaluator against kube-apiserver 1.36's answers: each row is a value and, per rule, whether
the API server let it pass (T) or refused it (F), recorded from a throwaway CRD with these rules. The offline
evaluator (core/schema/cel_library.py) must answer the same; the osdpl cases that use these functions run on the API
server too (tests/integration/test_crds.py)."""

from __future__ import annotations

import time

import pytest
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

from openstack_operator.core.schema.cel_library import program
from openstack_operator.core.schema.semantics import DOMAIN_NAME_PATTERN, cron_rule, dns_name_rule

IP_RULES = [
    "isIP(self)", "isCIDR(self)",
    "!isIP(self) || ip(self).family() == 4",
    "!isCIDR(self) || cidr(self).masked() == cidr(self)",
    "!isCIDR(self) || cidr(self).ip() == cidr(self).masked().ip()",
    "!isCIDR(self) || cidr(self).prefixLength() >= 24",
    "!isCIDR(self) || cidr(self).containsIP('10.0.0.7')",
    "!isCIDR(self) || cidr(self).containsIP(ip('2001:db8::1'))",
    "!isCIDR(self) || cidr(self).containsCIDR('10.0.0.0/25')",
    "!isCIDR(self) || cidr(self).containsCIDR(cidr('10.0.0.0/8'))",
    "!isIP(self) || cidr('10.0.0.0/24').containsIP(self)",
    "!isIP(self) || ip(self) == ip('10.0.0.1')",
]
IP_ANSWERS = [
    ('10.0.0.1', 'TFTTTTTTTTTT'),
    ('010.0.0.1', 'FFTTTTTTTTTT'),
    ('::ffff:1.2.3.4', 'FFTTTTTTTTTT'),
    ('::1.2.3.4', 'TFFTTTTTTTFF'),
    ('fe80::1%eth0', 'FFTTTTTTTTTT'),
    ('10.0.0.0/24', 'FTTTTTTFTFTT'),
    ('10.0.0.5/24', 'FTTFFTTFTFTT'),
    ('10.0.0.0/024', 'FFTTTTTTTTTT'),
    ('10.0.0.0/33', 'FFTTTTTTTTTT'),
    ('10.0.0.0/+8', 'FFTTTTTTTTTT'),
    (' 10.0.0.1', 'FFTTTTTTTTTT'),
    ('10.0.0.0/255.0.0.0', 'FFTTTTTTTTTT'),
    ('2001:db8::/32', 'FTTTTTFTFFTT'),
    ('::ffff:1.2.3.0/120', 'FFTTTTTTTTTT'),
    ('1.2.3.4/32', 'FTTTTTFFFFTT'),
    ('FE80::1', 'TFFTTTTTTTFF'),
    ('10.0.0.0/8', 'FTTTTFTFTTTT'),
    ('10.0.0.0/0', 'FTTFFFTFTTTT'),
    ('2001:db8::1', 'TFFTTTTTTTFF'),
    ('2001:DB8::1/128', 'FTTTTTFTFFTT'),
    ('1.2.3', 'FFTTTTTTTTTT'),
    ('300.1.1.1', 'FFTTTTTTTTTT'),
    ('banana', 'FFTTTTTTTTTT'),
    ('', 'FFTTTTTTTTTT'),
    ('10.0.0.0/', 'FFTTTTTTTTTT'),
    ('/24', 'FFTTTTTTTTTT'),
    ('10.0.0.256', 'FFTTTTTTTTTT'),
    ('1::2::3', 'FFTTTTTTTTTT'),
    ('::', 'TFFTTTTTTTFF'),
    ('0.0.0.0', 'TFTTTTTTTTFF'),
    ('10.0.0.0/25', 'FTTTTTTFTFTT'),
    ('10.0.0.128/25', 'FTTTTTFFFFTT'),
    ('2001:db8::/0', 'FTTFFFFTFFTT'),
    ('10.0.0.0/00', 'FFTTTTTTTTTT'),
    ('10.0.0.1/32/1', 'FFTTTTTTTTTT'),
    ('١٠.0.0.1', 'FFTTTTTTTTTT'),
]
TEXT_RULES = [cron_rule("x")["rule"], dns_name_rule("x", "y")["rule"], f"self.matches('{DOMAIN_NAME_PATTERN}')",
              "size(self.split('.')) == 4", "self.split('.', 2)[0] == '10'"]
TEXT_ANSWERS = [
    ('0 1 * * *', 'TFFFF'),
    ('@daily', 'TFFFF'),
    ('@every 1h30m', 'TFFFF'),
    ('@every 1.5s', 'TFFFF'),
    ('@every 10µs', 'TFFFF'),
    ('@every 10μs', 'TFFFF'),
    ('@every 1d', 'FFFFF'),
    ('@DAILY', 'FFFFF'),
    (' @daily', 'FFFFF'),
    ('*/15 0-6,22 * JAN-mar mon-FRI', 'TFFFF'),
    ('0 24 * * *', 'FFFFF'),
    ('60 0 * * *', 'FFFFF'),
    ('0 0 0 * *', 'FFFFF'),
    ('0 0 32 * *', 'FFFFF'),
    ('0 0 * 13 *', 'FFFFF'),
    ('0 0 * * 7', 'FFFFF'),
    ('0 0 * * SUN', 'TFFFF'),
    ('every day', 'FFFFF'),
    ('0 0 1 * * *', 'FFFFF'),
    ('0 0 1 *', 'FFFFF'),
    ('  0  1 * * *  ', 'TFFFF'),
    ('0\t1 * * *', 'TFFFF'),
    ('0 1 * * *\n', 'TFFFF'),
    ('? ? ? ? ?', 'TFFFF'),
    ('*/0 * * * *', 'FFFFF'),
    ('00 01 * * *', 'TFFFF'),
    ('1-5/2 * * * *', 'TFFFF'),
    ('5/10 * * * *', 'TFFFF'),
    ('CRON_TZ=UTC 0 1 * * *', 'FFFFF'),
    ('0 1 * * * ', 'TFFFF'),
    ('0 1 L * *', 'FFFFF'),
    ('cloud.example.com', 'FTTFF'),
    ('Not A Domain!', 'FFFFF'),
    ('cluster.local.', 'FFTFF'),
    ("a" * 63 + ".com", 'FTFFF'),
    ("a" * 64 + ".com", 'FFFFF'),
    ('-a.com', 'FFTFF'),
    ('a-.com', 'FFTFF'),
    ('x', 'FTTFF'),
    ('10.11.12.1', 'FTTTT'),
    ('ldap.example.com', 'FTTFF'),
    ('my domain', 'FFFFF'),
    ('a_b-c.D', 'FFTFF'),
]


def _answers(rules: list[str], value: str) -> str:
    return "".join("T" if program(rule).evaluate({"self": json_to_cel(value)}) else "F" for rule in rules)


@pytest.mark.parametrize(("value", "answers"), IP_ANSWERS)
def test_ip_and_cidr_library_as_the_api_server(value: str, answers: str) -> None:
    assert _answers(IP_RULES, value) == answers


@pytest.mark.parametrize(("value", "answers"), TEXT_ANSWERS)
def test_cron_dns_names_and_split_as_the_api_server(value: str, answers: str) -> None:
    assert _answers(TEXT_RULES, value) == answers


def test_a_decided_operand_keeps_the_other_from_failing() -> None:
    # celpy alone evaluates both sides: ip('banana') would fail, and inside a macro the failures grew without
    # bound (a 15 GB process). As in CEL, the left side decides here and the right one is not evaluated.
    rule = "!isIP(self) || [" + ", ".join(map(str, range(32))) + "].exists(p, ip(self).family() == p)"
    started = time.monotonic()
    assert program(rule).evaluate({"self": json_to_cel("banana")})
    assert not program("isIP(self) && ip(self).family() == 4").evaluate({"self": json_to_cel("banana")})
    assert time.monotonic() - started < 5


def test_errors_are_absorbed_or_reported_as_in_cel() -> None:
    assert program("ip(self) == ip('1.2.3.4') || true").evaluate({"self": json_to_cel("banana")})
    assert not program("ip(self) == ip('1.2.3.4') && false").evaluate({"self": json_to_cel("banana")})
    with pytest.raises(CELEvalError) as error:
        program("[1, 2, 3].exists(p, ip(self).family() == p)").evaluate({"self": json_to_cel("banana")})
    assert len(str(error.value)) < 1000  # one cause, not each nested one's repr
