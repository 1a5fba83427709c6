import pytest

from eneo.core.errors import Forbidden
from eneo.spaces.models import SpaceRole
from eneo.spaces.policy import SpaceAction, allowed, require

EXPECTED = {
    # action: (viewer, editor, admin)
    SpaceAction.read: (True, True, True),
    SpaceAction.edit_content: (False, True, True),
    SpaceAction.update: (False, False, True),
    SpaceAction.manage_members: (False, False, True),
    SpaceAction.delete: (False, False, True),
}


@pytest.mark.parametrize("action", list(SpaceAction))
def test_each_role_may_do_exactly_what_the_table_says(action: SpaceAction) -> None:
    roles = (SpaceRole.viewer, SpaceRole.editor, SpaceRole.admin)
    assert tuple(allowed(role, action) for role in roles) == EXPECTED[action]


def test_refusal_names_the_role_needed() -> None:
    with pytest.raises(Forbidden) as err:
        require(SpaceRole.viewer, SpaceAction.edit_content)
    assert err.value.code == "space_role_required"
    assert "editor" in err.value.message
