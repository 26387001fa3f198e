"""Keep secrets out of messages: error text from Helm or the API may echo values, and values hold credentials."""

from __future__ import annotations

from typing import Any, Iterable, Iterator

# Words in a values key that holds a secret (password, memcache_secret_key, erlang_cookie, a Ceph `keyring`, octavia's
# heartbeat_key, a Secret's stringData such as the amphora PKI's, ...). Not "key" alone: node_selector_key, label `key`
# and the like name labels, and hiding them hides the error.
_SENSITIVE_KEYS = ("password", "secret", "token", "passphrase", "credential", "cookie", "keyring", "heartbeat_key",
                   "stringdata")
MASK = "<redacted>"


def sensitive_strings(values: Any) -> set[str]:
    """String leaves under keys that name a secret (password, memcache_secret_key, ...)."""
    return set(_walk(values, sensitive=False))


def _walk(node: Any, sensitive: bool) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, sensitive or any(word in str(key).lower() for word in _SENSITIVE_KEYS))
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item, sensitive)
    elif sensitive and isinstance(node, str) and len(node) >= 4:
        yield node


def redact(message: str, secrets: Iterable[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):  # longest first: a secret may contain another
        message = message.replace(secret, MASK)
    return message
