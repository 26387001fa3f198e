"""CEL rules for values that have a format or point at another field: addresses and subnets, cron schedules, DNS
names. They use Kubernetes' CEL libraries (IP, CIDR: kube-apiserver 1.36; offline: cel_library.py) and RE2
regular expressions, so the API server and `openstack-operator validate` give the same verdict. Each rule's
message names the field; where a rule on an object is about one of its fields, its fieldPath points there.
"""

from __future__ import annotations

from openstack_operator.core.schema.builders import Schema

Rule = dict[str, str]

# The longest texts of an address and of a CIDR (IPv6 with an embedded IPv4 address): bounds that keep the rules'
# estimated cost low and say nothing else.
MAX_IP_LENGTH = 45
MAX_CIDR_LENGTH = 49
MAX_DNS_NAME = 253
MAX_DNS_SERVERS = 16
MAX_PHYSNET_LENGTH = 64  # Neutron's physical_network column
MAX_EXTERNAL_NETWORKS = 32
MAX_VLAN_RANGE_LENGTH = 16

# A DNS name as Kubernetes names objects and Gateway API hostnames: an RFC 1123 subdomain, lowercase, labels of
# at most 63 characters.
DNS_LABEL = "[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
DNS_NAME_PATTERN = f"^{DNS_LABEL}([.]{DNS_LABEL})*$"


def dns_name_rule(field: str, example: str) -> Rule:
    return {"rule": f"self.matches('{DNS_NAME_PATTERN}')",
            "message": f"{field} must be a lowercase DNS name (RFC 1123: letters, digits, '-' and '.', labels of "
                       f"at most 63 characters), e.g. {example}"}


def ip_rule(field: str, example: str) -> Rule:
    return {"rule": "isIP(self)", "message": f"{field} must be an IP address, e.g. {example}"}


# --- cron: what a Kubernetes CronJob's schedule accepts (the 5-field standard form and the @ descriptors) -----------
_STEP = "(/0*[1-9][0-9]*)?"
_MONTHS = "(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
_DAYS = "(?i:sun|mon|tue|wed|thu|fri|sat)"
_CRON_VALUES = {  # per field: minutes 0-59, hours 0-23, days 1-31, months 1-12 or names, weekdays 0-6 or names
    "minute": "0*[1-5]?[0-9]",
    "hour": "0*(1?[0-9]|2[0-3])",
    "day of month": "0*([1-9]|[12][0-9]|3[01])",
    "month": f"(0*([1-9]|1[0-2])|{_MONTHS})",
    "day of week": f"(0*[0-6]|{_DAYS})",
}
_DURATION = "(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|µs|μs|ms|s|m|h))+"


def _cron_field(value: str) -> str:
    item = f"([*?]|{value}(-{value})?){_STEP}"
    return f"{item}(,{item})*"


CRON_PATTERN = ("^(\\s*" + "\\s+".join(_cron_field(v) for v in _CRON_VALUES.values()) + "\\s*"
                "|@(yearly|annually|monthly|weekly|daily|midnight|hourly)"
                f"|@every {_DURATION})$")
MAX_CRON_LENGTH = 128


def cron_rule(field: str) -> Rule:
    return {"rule": f"self.matches('{_cel_string(CRON_PATTERN)}')",
            "message": f"{field} must be a cron schedule as a CronJob takes it: five fields (minute 0-59, hour "
                       "0-23, day of month 1-31, month 1-12, day of week 0-6) of *, values, ranges a-b, lists and "
                       "/steps, e.g. \"30 2 * * *\", or @hourly, @daily, @weekly, @monthly, @yearly"}


def _cel_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


# --- IPv4 addresses as numbers -----------------------------------------------------------------------------------
# The CIDR library has no order on addresses and no host arithmetic: an IPv4 address's text (checked by isIP and a
# family 4 range first) splits into its four decimal parts. Sizes of the prefixes /0 to /32, indexed by length.
_SIZES = "[" + ", ".join(str(2 ** (32 - bits)) for bits in range(33)) + "]"


def ipv4_value(address: str) -> str:
    part = [f"int({address}.split('.')[{index}])" for index in range(4)]
    return f"({part[0]} * 16777216 + {part[1]} * 65536 + {part[2]} * 256 + {part[3]})"


def ipv4_le(a: str, b: str) -> str:
    """CEL: the IPv4 address (a string expression) a is at most b."""
    return f"{ipv4_value(a)} <= {ipv4_value(b)}"


def _size(cidr: str) -> str:
    return f"{_SIZES}[cidr({cidr}).prefixLength()]"


def _offset(address: str, cidr: str) -> str:
    """CEL: the IPv4 address's place in the IPv4 CIDR (0: its network address)."""
    return f"{ipv4_value(address)} % {_size(cidr)}"


def host_address(address: str, cidr: str) -> str:
    """CEL: the IPv4 address is in the IPv4 CIDR and neither its network nor its broadcast address."""
    offset = _offset(address, cidr)
    return f"cidr({cidr}).containsIP({address}) && {offset} != 0 && {offset} != {_size(cidr)} - 1"


def subnet_rules() -> list[Rule]:
    """The floating network's subnet: a pool of host addresses of the range, in order, and a gateway (given, or
    Neutron's default: the range's first host address) that is a host address of the range outside the pool, as
    Neutron takes them. Each rule waits for the fields it reads
    to be well-formed (their own rules report them)."""
    rng, start, end, gateway = "self.range", "self.pool_start", "self.pool_end", "self.gateway"
    valid = f"has({rng}) && isCIDR({rng}) && cidr({rng}).ip().family() == 4"
    rules: list[Rule] = [{"rule": f"has({start}) == has({end})",
                          "message": "pool_start and pool_end go together: set both or neither"}]
    for field in ("pool_start", "pool_end", "gateway"):
        value = f"self.{field}"
        rules.append({"rule": f"!has({value}) || !({valid}) || !isIP({value}) || ({host_address(value, rng)})",
                      "fieldPath": f".{field}",
                      "message": f"{field} must be a host address of range (inside it, neither its network nor "
                                 "its broadcast address)"})
    pool = (f"has({start}) && has({end}) && {valid} && isIP({start}) && isIP({end}) && {host_address(start, rng)} "
            f"&& {host_address(end, rng)}")
    rules.append({"rule": f"!({pool}) || {ipv4_le(start, end)}", "fieldPath": ".pool_end",
                  "message": "pool_end must not be lower than pool_start"})
    rules.append({"rule": f"!({pool}) || has({gateway}) || {_offset(start, rng)} != 1", "fieldPath": ".pool_start",
                  "message": "pool_start must not be the first address of range while gateway is unset (Neutron "
                             "makes that address the gateway, and a gateway may not be in the pool)"})
    in_pool = f"{ipv4_le(start, gateway)} && {ipv4_le(gateway, end)}"
    rules.append({"rule": f"!({pool} && {ipv4_le(start, end)} && has({gateway}) && isIP({gateway}) "
                          f"&& {host_address(gateway, rng)}) || !({in_pool})",
                  "fieldPath": ".gateway",
                  "message": "gateway must be outside the pool pool_start to pool_end (Neutron refuses a gateway "
                             "inside an allocation pool)"})
    return rules


RANGE_MESSAGE = "range must be an IPv4 CIDR, e.g. 10.11.12.0/24 (the floating subnet is created as IPv4)"


def range_rule() -> Rule:
    return {"rule": "isCIDR(self) && cidr(self).ip().family() == 4", "message": RANGE_MESSAGE}


# --- references between fields ----------------------------------------------------------------------------------
def floating_network_rules() -> list[Rule]:
    """On features.neutron: an enabled floating network sits on a physnet of external_networks that offers its
    network type, and a vlan one without segmentation_id needs that physnet's vlan_ranges to allocate from."""
    fl = "self.floating_network"
    # has(): the API server also checks the rules on the default ({}) of features.neutron, unfilled.
    on = f"has({fl}) && has({fl}.enabled) && {fl}.enabled && has({fl}.physnet) && has({fl}.network_type)"
    same = f"has(n.physnet) && n.physnet == {fl}.physnet"
    declared = f"has(self.external_networks) && self.external_networks.exists(n, {same})"
    offered = (f"has(self.external_networks) && self.external_networks.exists(n, {same} "
               f"&& has(n.network_types) && {fl}.network_type in n.network_types)")
    ranges = f"has(self.external_networks) && self.external_networks.exists(n, {same} && has(n.vlan_ranges))"
    return [
        {"rule": f"!({on}) || {declared}", "fieldPath": ".floating_network.physnet",
         "message": "floating_network.physnet must be the physnet of one of external_networks"},
        {"rule": f"!({on} && {declared}) || {offered}", "fieldPath": ".floating_network.network_type",
         "message": "floating_network.network_type must be one of the network_types of its physnet in "
                    "external_networks"},
        {"rule": f"!({on} && {offered} && {fl}.network_type == 'vlan' && !has({fl}.segmentation_id)) || {ranges}",
         "fieldPath": ".floating_network.segmentation_id",
         "message": "floating_network.segmentation_id is required: its physnet has no vlan_ranges to allocate a "
                    "VLAN from"},
    ]


SEGMENTATION_ID_RULE: Rule = {"rule": "!has(self.segmentation_id) || self.network_type == 'vlan'",
                              "fieldPath": ".segmentation_id",
                              "message": "segmentation_id is for network_type vlan only"}

# A domain's name is a Secret key (keystone.<name>.json) and a word of the chart's shell scripts; Keystone takes
# names of at most 64 characters.
DOMAIN_NAME_PATTERN = "^[-._a-zA-Z0-9]{1,64}$"
DOMAIN_NAME_RULE: Rule = {"rule": f"self.all(name, name.matches('{DOMAIN_NAME_PATTERN}'))",
                          "message": "domains keys must be Keystone domain names of 1 to 64 letters, digits, '-', "
                                     "'_' and '.'"}
# An enabled domain's config is posted to Keystone's domain config API, which answers 400 to an empty one.
DOMAIN_CONFIG_RULE: Rule = {"rule": "!self.enabled || size(self.config) > 0", "fieldPath": ".config",
                            "message": "config is required for an enabled domain (Keystone refuses an empty domain "
                                       "config): set its sections, e.g. identity.driver, or enabled: false"}


def checked(schema: Schema, *rules: Rule, **bounds: object) -> Schema:
    """`schema` with these rules added to its own, and bounds (maxLength, maxItems) that keep their cost low."""
    return {**schema, **bounds, "x-kubernetes-validations": [*schema.get("x-kubernetes-validations", []), *rules]}


# A physnet's VLAN range as Neutron takes it (min:max, VLAN IDs 1-4094, min <= max), once the schema's pattern holds.
_VLAN_BOUND = "int(self.split(':')[{}])"
VLAN_RANGE_RULE: Rule = {
    "rule": "!self.matches('^[0-9]+:[0-9]+$') || (self.matches('^[0-9]{1,4}:[0-9]{1,4}$') "
            f"&& {_VLAN_BOUND.format(0)} >= 1 && {_VLAN_BOUND.format(1)} <= 4094 "
            f"&& {_VLAN_BOUND.format(0)} <= {_VLAN_BOUND.format(1)})",
    "message": "vlan_ranges must be min:max with VLAN IDs 1 to 4094 and min <= max, e.g. 1000:1999"}
VLAN_RANGES_NEED_VLAN: Rule = {"rule": "!has(self.vlan_ranges) || (has(self.network_types) "
                                       "&& 'vlan' in self.network_types)",
                               "fieldPath": ".vlan_ranges",
                               "message": "vlan_ranges is for a physnet whose network_types include vlan"}
