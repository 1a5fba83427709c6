import uuid
from datetime import UTC, datetime

import pytest

from eneo.core.errors import BadRequest
from eneo.core.pagination import decode_cursor, encode_cursor


def test_cursor_round_trips_timestamp_and_id() -> None:
    when, id_ = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC), uuid.uuid4()
    assert decode_cursor(encode_cursor(when, id_)) == (when, id_)


@pytest.mark.parametrize("bad", ["", "not-base64!", "W10", "WyJ4IiwgInkiXQ", "eyJhIjogMX0"])
def test_a_cursor_we_did_not_issue_is_a_clear_400(bad: str) -> None:
    with pytest.raises(BadRequest) as err:
        decode_cursor(bad)
    assert err.value.code == "invalid_cursor"
