from __future__ import annotations

from pathlib import Path

import pytest

from openstack_operator.core.catalog import Catalog
from openstack_operator.core.rendering.renderer import Renderer

from ..osdpl_cases import EXAMPLES, load_example

__all__ = ["EXAMPLES", "REPO", "load_example"]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.fixture(scope="session")
def renderer(catalog: Catalog) -> Renderer:
    return Renderer(catalog)
