"""At startup a process waits until the API server serves its custom resources (Kopf looks them up only once),
and takes only namespace names to watch."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import requests

from openstack_operator.core.errors import OperatorError
from openstack_operator.kube import operator


class Discovery:
    """Answers of the API server's discovery, in turn: down, up without the CRDs, then serving them."""

    def __init__(self) -> None:
        self.calls = 0

    def get(self, **_: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            raise requests.exceptions.ConnectionError("connection refused")
        names = [] if self.calls == 2 else [{"name": "openstackdeployments"}, {"name": "helmbundles"}]
        response = requests.Response()
        response.status_code = 200
        response._content = json.dumps({"resources": names}).encode()
        return response


def test_startup_waits_until_discovery_serves_the_custom_resources(monkeypatch: pytest.MonkeyPatch) -> None:
    discovery = Discovery()
    monkeypatch.setattr(operator, "api", lambda: discovery)
    monkeypatch.setattr(operator, "DISCOVERY_RETRY_SECONDS", 0.01)
    asyncio.run(operator._served("openstack.osop.dev/v1alpha1", {"openstackdeployments", "helmbundles"}))
    assert discovery.calls == 3


def test_the_watched_namespaces_are_names_and_a_pattern_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSOP_NAMESPACES", " openstack, cloud-two ,")
    assert operator.watched_namespaces() == ["openstack", "cloud-two"]
    monkeypatch.setenv("OSOP_NAMESPACES", "")
    assert operator.watched_namespaces() == []  # every namespace
    monkeypatch.setenv("OSOP_NAMESPACES", "openstack,prod-*")
    with pytest.raises(OperatorError, match=r"OSOP_NAMESPACES: 'prod-\*' is not a namespace name"):
        operator.watched_namespaces()
