"""What a deployment of each shipped release runs, as the real charts render it (`helm template`): every container
image is one of the release's (templates/releases/<release>.yaml) and passes tests/unit/test_release_images.py's
rule: no `latest` but the catalog's `image_unpinned`, no other series or release name. Every feature on
(all-features.yaml), once per release, through a mirror (`metric` needs one: its image is the project's own), so
every reference is the mirror's copy of one of the release's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from openstack_operator.core.catalog import Catalog

from ..unit.test_release_images import image_problems
from . import lib
from .conftest import HERE, render_deployment


@pytest.mark.parametrize("release", ["epoxy", "flamingo", "gazpacho"])
def test_every_container_runs_an_image_of_its_release(charts: Path, helm: Path, catalog: Catalog,
                                                     release: str) -> None:
    doc: dict[str, Any] = yaml.safe_load((HERE / "all-features.yaml").read_text())
    mirror = "registry.example.com/mirror"
    doc["spec"]["openstack_version"] = release
    doc["spec"]["artifacts"] = {"images_base_url": mirror}
    deployment = render_deployment(catalog, doc, charts)
    # the mirror's copy -> the release's reference it copies
    own = {f"{mirror}/{ref.rsplit('/', 1)[-1]}": ref for images in catalog.releases[release].images.values()
           for ref in images.values()}
    seen: dict[str, str] = {}
    for rendered in deployment.releases.values():
        assert rendered.problem is None, rendered.problem
        for obj in lib.helm_template(helm, rendered.release.name, rendered.chart_tgz, rendered.release.namespace,
                                     rendered.release.values):
            for container in lib._walk_containers(obj):
                seen.setdefault(str(container.get("image", "")), f"{rendered.release.name} {container.get('name')}")
    assert len(seen) >= 15, sorted(seen)  # the images of every chart's pods, jobs and hooks, not a few
    problems = [f"{where}: {image}: {', '.join(image_problems(catalog, release, own[image]))}" if image in own
                else f"{where}: {image}: not the release own"
                for image, where in sorted(seen.items())
                if image not in own or image_problems(catalog, release, own[image])]
    assert not problems, "\n".join(problems)
