from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.render import Renderer

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "deploy" / "examples"


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.fixture(scope="session")
def renderer(catalog: Catalog) -> Renderer:
    return Renderer(catalog)


def load_example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    return data
