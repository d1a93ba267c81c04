"""Museum staff: a museum's users in the sign-in provider (issue 24).

Who may do what (the rules, no I/O):

- an operator manages any museum's staff: onboards its first administrator,
  adds, lists and removes staff;
- a museum's administrator (the `museum-admin` role, Principal.museum_admin)
  does the same for its own museum only;
- plain museum staff, licensees and tourists manage nobody, and do not list
  the staff (names and email addresses are the administrators' business);
- nobody grants anything but `museum` (and `museum-admin`): the roles come
  from `staff_roles`, the museum from the path, never from the request body;
- a removal names a user carrying this museum's `museum_id` (anything else is
  "not found": another museum's user ids are not confirmed), never the
  caller itself (another administrator or an operator removes an
  administrator, so a museum cannot lock itself out by mistake), and never
  an operator or a licensee who happens to carry the museum's id.

Removal disables the user and ends its sessions in the provider; the account
stays (audit, and a provider administrator can re-enable it).

Errors (servicekit renders them as problem+json):

    NotStaffManager (Forbidden)       403: not an operator or this museum's admin
    CannotRemoveSelf (Forbidden)      403: an administrator removing itself
    NotMuseumStaff (Forbidden)        403: the user holds operator or licensee
    StaffNotFound (NotFound)          404: no such user at this museum
    StaffNotConfigured (Unavailable)  503: STAFF_PROVIDER_* unset
    (the directory's own: UsernameTaken 409, StaffRejected 422,
     ProviderUnavailable 503, in catalog.staff_directory)
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol

from catalog.domain import Museum
from catalog.errors import MuseumNotFound
from servicekit.auth import Principal, Role
from servicekit.errors import Forbidden, NotFound, Unavailable
from servicekit.oidc import MUSEUM_ADMIN_ROLE

__all__ = [
    "MUSEUM_ROLE",
    "PROTECTED_ROLES",
    "CannotRemoveSelf",
    "Museums",
    "NewStaff",
    "NotMuseumStaff",
    "NotStaffManager",
    "StaffDirectory",
    "StaffMember",
    "StaffNotConfigured",
    "StaffNotFound",
    "list_staff",
    "may_manage_staff",
    "onboard_staff",
    "remove_staff",
    "staff_roles",
    "temporary_password",
]

MUSEUM_ROLE = Role.MUSEUM.value
# roles that this endpoint neither grants nor takes away
PROTECTED_ROLES = frozenset({Role.OPERATOR.value, Role.LICENSEE.value})


@dataclass(frozen=True)
class NewStaff:
    username: str
    email: str
    first_name: str | None = None
    last_name: str | None = None
    admin: bool = False


@dataclass(frozen=True)
class StaffMember:
    """A user as the provider has it; `roles`: the realm roles it holds
    (composites expanded)."""

    id: str
    username: str
    email: str | None
    first_name: str | None
    last_name: str | None
    museum_id: str | None
    enabled: bool
    roles: frozenset[str]

    @property
    def admin(self) -> bool:
        return MUSEUM_ADMIN_ROLE in self.roles


class StaffDirectory(Protocol):
    """The provider's user administration (catalog.staff_directory)."""

    async def add(
        self, *, museum_id: str, new: NewStaff, roles: tuple[str, ...], password: str
    ) -> StaffMember: ...

    async def members(self, museum_id: str) -> list[StaffMember]: ...

    async def member(self, user_id: str) -> StaffMember | None: ...

    async def disable(self, user_id: str) -> None: ...


class Museums(Protocol):
    async def museum(self, museum_id: str) -> Museum | None: ...


class NotStaffManager(Forbidden):
    title = "Not a staff manager"

    def __init__(self, museum_id: str) -> None:
        super().__init__(
            f"only an operator or an administrator of museum {museum_id!r} manages its staff",
            museum_id=museum_id,
        )


class CannotRemoveSelf(Forbidden):
    title = "Cannot remove yourself"

    def __init__(self) -> None:
        super().__init__("an administrator is removed by another administrator or an operator")


class NotMuseumStaff(Forbidden):
    title = "Not museum staff"

    def __init__(self, user_id: str) -> None:
        super().__init__(
            f"user {user_id!r} holds operator or licensee: not managed here", user_id=user_id
        )


class StaffNotFound(NotFound):
    title = "Staff member not found"

    def __init__(self, museum_id: str, user_id: str) -> None:
        super().__init__(
            f"no staff member {user_id!r} at museum {museum_id!r}",
            museum_id=museum_id,
            user_id=user_id,
        )


class StaffNotConfigured(Unavailable):
    title = "Staff management not configured"

    def __init__(self) -> None:
        super().__init__("staff management is not configured")


def may_manage_staff(actor: Principal, museum_id: str) -> None:
    if not (actor.is_operator or actor.administers_museum(museum_id)):
        raise NotStaffManager(museum_id)


def staff_roles(admin: bool) -> tuple[str, ...]:
    """The only roles a staff endpoint ever grants."""
    return (MUSEUM_ROLE, MUSEUM_ADMIN_ROLE) if admin else (MUSEUM_ROLE,)


def temporary_password() -> str:
    """Shown once; the provider makes the user replace it at first sign-in."""
    return secrets.token_urlsafe(18)


async def _checked(
    actor: Principal, museum_id: str, directory: StaffDirectory | None, museums: Museums
) -> StaffDirectory:
    # who may, before whether it is configured: a refusal never depends on setup
    may_manage_staff(actor, museum_id)
    if directory is None:
        raise StaffNotConfigured()
    if await museums.museum(museum_id) is None:  # by _id
        raise MuseumNotFound(museum_id)
    return directory


async def onboard_staff(
    *,
    directory: StaffDirectory | None,
    museums: Museums,
    actor: Principal,
    museum_id: str,
    new: NewStaff,
) -> tuple[StaffMember, str]:
    """A new staff member of the museum and its one-time password."""
    staff = await _checked(actor, museum_id, directory, museums)
    password = temporary_password()
    member = await staff.add(
        museum_id=museum_id, new=new, roles=staff_roles(new.admin), password=password
    )
    return member, password


async def list_staff(
    *, directory: StaffDirectory | None, museums: Museums, actor: Principal, museum_id: str
) -> list[StaffMember]:
    staff = await _checked(actor, museum_id, directory, museums)
    return await staff.members(museum_id)


async def remove_staff(
    *,
    directory: StaffDirectory | None,
    museums: Museums,
    actor: Principal,
    museum_id: str,
    user_id: str,
) -> None:
    staff = await _checked(actor, museum_id, directory, museums)
    member = await staff.member(user_id)
    if member is None or member.museum_id != museum_id:
        raise StaffNotFound(museum_id, user_id)
    if member.id == actor.subject:
        raise CannotRemoveSelf()
    if member.roles & PROTECTED_ROLES:
        raise NotMuseumStaff(user_id)
    await staff.disable(user_id)  # again for a disabled user: its sessions end too
