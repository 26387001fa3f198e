"""Why a command that reads the live cluster (`validate --live`, `diff`) could not, in one line: no kubeconfig, an
API server that does not answer, TLS, or the API server's own refusal. The CLI prints it instead of a traceback."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

import pykube
import requests
import yaml

from openstack_operator.kube.client import api

_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\"()\]]+)")
_SSL = re.compile(r"(certificate verify failed[^'\")]*|SSL: [A-Z_]+|wrong version number)")


def _server(error: requests.RequestException) -> str:
    url = getattr(error.request, "url", None) or ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else "(unknown)"


def _kubeconfig() -> str:
    return os.environ.get("KUBECONFIG") or "~/.kube/config"


def cluster_problem(error: Exception) -> str:
    """`error`, raised while reading the cluster, as one line that says what to do. Never a credential: messages
    of requests name the URL and the reason only."""
    if isinstance(error, pykube.exceptions.HTTPError):
        return f"the API server refused: {error.code} {_first_line(error)}".rstrip()
    if isinstance(error, pykube.exceptions.PyKubeError) and "not found" in str(error):
        where = "$KUBECONFIG " + os.environ["KUBECONFIG"] if os.environ.get("KUBECONFIG") else \
            "$KUBECONFIG is unset and ~/.kube/config"
        return f"no cluster to read: {where} does not exist, and this is not a pod with a service account " \
               "(set $KUBECONFIG)"
    if isinstance(error, requests.exceptions.SSLError):
        found = _SSL.search(str(error))
        return f"TLS with the API server {_server(error)} failed: {found.group(1) if found else 'handshake error'}"
    if isinstance(error, requests.exceptions.Timeout):
        return f"the API server {_server(error)} did not answer in time"
    if isinstance(error, requests.exceptions.ConnectionError):
        found = _ERRNO.search(str(error))
        return f"cannot reach the API server {_server(error)}: {found.group(1).strip() if found else 'no connection'}"
    return f"{type(error).__name__}: {_first_line(error)}"


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [""])[0]


def config_problem() -> str | None:
    """Why no API client can be made (no kubeconfig, or one that cannot be read), or None: before any request."""
    try:
        api()
    except pykube.exceptions.PyKubeError as error:
        return cluster_problem(error)
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as error:
        return f"the kubeconfig {_kubeconfig()} cannot be used: {type(error).__name__}: {_first_line(error)}"
    return None
