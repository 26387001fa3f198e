"""Just enough of an HTTPS client to bootstrap the cluster (readiness, nodes) without kubectl round trips."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


class AdminClient:
    def __init__(self, server: str, pki: Path) -> None:
        self.server = server
        self._context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self._context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))

    def request(self, method: str, path: str, body: Any = None, timeout: float = 5.0) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.server + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, context=self._context, timeout=timeout) as response:
                text = response.read().decode()
                status: int = response.status
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def ready(self) -> bool:
        try:
            status, body = self.request("GET", "/readyz", timeout=2.0)
        except (OSError, urllib.error.URLError):
            return False
        return status == 200 and body == "ok"
