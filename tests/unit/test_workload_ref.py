"""A workload reference reads back what it writes, and an entry of another shape is not one."""

from __future__ import annotations

import pytest

from openstack_operator.core.models.workload import WorkloadRef


def test_a_reference_reads_back_its_stored_form() -> None:
    ref = WorkloadRef("nova", "api", "Deployment", "nova-api-osapi")
    assert str(ref) == "nova/api/Deployment/nova-api-osapi"
    assert WorkloadRef.parse(str(ref)) == ref


@pytest.mark.parametrize("entry", ["nova/api/Deployment", "a/b/c/d/e", "nova//Deployment/x", "", None, 3])
def test_an_entry_of_another_shape_is_not_a_reference(entry: object) -> None:
    assert WorkloadRef.parse(entry) is None
