"""The sweep's loop over tenants (eneo.ingestion.sweep.sweep_tenants): one tenant failing does not keep the
others from being swept, and the failure is counted and logged without any document content."""

from __future__ import annotations

import logging
import uuid

import pytest

from eneo.ingestion.sweep import sweep_tenants


async def test_a_failing_tenant_is_counted_and_the_others_are_still_swept(caplog: pytest.LogCaptureFixture) -> None:
    first, broken, last = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    swept: list[uuid.UUID] = []

    async def resume(tenant_id: uuid.UUID) -> int:
        swept.append(tenant_id)
        if tenant_id == broken:
            raise ConnectionError("secret document title")
        return 2 if tenant_id == first else 1

    with caplog.at_level(logging.ERROR, logger="eneo.ingestion"):
        result = await sweep_tenants([first, broken, last], resume)

    assert swept == [first, broken, last]
    assert result.as_dict() == {"tenants": 3, "resumed": 3, "failed": 1}
    assert result.failed == [broken]
    [record] = caplog.records
    assert record.tenant_id == str(broken) and record.error == "ConnectionError"  # type: ignore[attr-defined]
    assert "secret" not in caplog.text


async def test_no_tenants_nothing_to_do() -> None:
    async def resume(tenant_id: uuid.UUID) -> int:
        raise AssertionError("no tenant to resume")

    assert (await sweep_tenants([], resume)).as_dict() == {"tenants": 0, "resumed": 0, "failed": 0}
