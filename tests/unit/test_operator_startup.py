"""At startup a process waits until the API server serves its custom resources (Kopf looks them up only once),
and reads its settings once, refusing a value that does not parse with the variable's name."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import requests

from openstack_operator.core.errors import OperatorError
from openstack_operator.core.settings import Settings
from openstack_operator.kube import process


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
    monkeypatch.setattr(process, "api", lambda: discovery)  # the API client is the one thing faked here
    asyncio.run(process.served("openstack.osop.dev/v1alpha1", {"openstackdeployments", "helmbundles"}, 0.01))
    assert discovery.calls == 3


def test_the_watched_namespaces_are_names_and_a_pattern_is_refused_naming_it() -> None:
    assert Settings.from_environ({"OSOP_NAMESPACES": " openstack, cloud-two ,"}).namespaces == ("openstack",
                                                                                                "cloud-two")
    assert Settings.from_environ({"OSOP_NAMESPACES": ""}).namespaces == ()  # every namespace
    with pytest.raises(OperatorError, match=r"OSOP_NAMESPACES: 'prod-\*' is not a namespace name"):
        Settings.from_environ({"OSOP_NAMESPACES": "openstack,prod-*"})


@pytest.mark.parametrize("variable, value, message", [
    ("OSOP_HELM_CONCURRENCY", "four", "OSOP_HELM_CONCURRENCY: 'four' is not an integer"),
    ("OSOP_HELM_CONCURRENCY", "0", "OSOP_HELM_CONCURRENCY: 0 is less than 1"),
    ("OSOP_RETRY_MAX_SECONDS", "-1", "OSOP_RETRY_MAX_SECONDS: -1.0 is negative"),
    ("OSOP_LOG_LEVEL", "verbose", "OSOP_LOG_LEVEL: 'VERBOSE' is not one of"),
    ("OSOP_LOG_FORMAT", "xml", "OSOP_LOG_FORMAT: 'xml' is not one of"),
])
def test_a_setting_that_does_not_parse_is_refused_naming_its_variable(variable: str, value: str,
                                                                      message: str) -> None:
    with pytest.raises(OperatorError, match="^" + message.replace("*", r"\*")):
        Settings.from_environ({variable: value})


def test_settings_read_from_the_environment_give_back_the_same_environment() -> None:
    environ = {"OSOP_HELM_CONCURRENCY": "2", "OSOP_HEALTH_GRACE_SECONDS": "5.0", "OSOP_NAMESPACES": "a,b",
               "OSOP_LOG_LEVEL": "DEBUG"}
    settings = Settings.from_environ({**environ, "UNRELATED": "x"})
    assert settings.helm_concurrency == 2 and settings.health_grace_seconds == 5.0
    assert settings.environ() == environ
    assert Settings.from_environ({}) == Settings()  # unset and empty mean the default
