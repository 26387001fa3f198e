"""A process waits at startup until the API server serves its custom resources: Kopf looks them up only once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import requests

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
