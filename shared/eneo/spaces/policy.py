"""Who may do what in a space: the one place these rules live.

Outsiders (not members) get 404 for every action, so a space's existence never leaks; members
whose role is too low get 403 and learn which role they need.
"""

import enum

from eneo.core.errors import Forbidden
from eneo.spaces.models import SpaceRole


class SpaceAction(enum.StrEnum):
    read = "read"  # see the space, its members and its published content
    edit_content = "edit_content"  # create and change assistants, knowledge (later work)
    update = "update"  # rename, describe
    manage_members = "manage_members"
    delete = "delete"


MINIMUM_ROLE: dict[SpaceAction, SpaceRole] = {
    SpaceAction.read: SpaceRole.viewer,
    SpaceAction.edit_content: SpaceRole.editor,
    SpaceAction.update: SpaceRole.admin,
    SpaceAction.manage_members: SpaceRole.admin,
    SpaceAction.delete: SpaceRole.admin,
}


def allowed(role: SpaceRole, action: SpaceAction) -> bool:
    return role.rank >= MINIMUM_ROLE[action].rank


def require(role: SpaceRole, action: SpaceAction) -> None:
    if not allowed(role, action):
        needed = MINIMUM_ROLE[action].value
        raise Forbidden(f"You need the {needed} role in this space to {action.value.replace('_', ' ')}",
                        code="space_role_required")
