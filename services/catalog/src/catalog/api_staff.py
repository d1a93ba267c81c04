"""Routes of a museum's staff in the sign-in provider (rules: catalog.staff).
Thin: parse, call a use case, render. Answers are never cached: they name
people, and a new member's answer carries its one-time password."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from catalog import staff
from catalog.api_common import ERRORS
from catalog.deps import Store
from catalog.staff import NewStaff, StaffDirectory
from servicekit.auth import CurrentPrincipal

__all__ = ["StaffCreate", "StaffCreated", "StaffPage", "StaffRead", "router"]

router = APIRouter(tags=["staff"])

NO_STORE = {"Cache-Control": "no-store"}
STAFF_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    503: {"description": "Staff management is not configured, or the provider is unavailable"},
}
# Keycloak user ids (UUIDs); nothing that could climb out of /users/{id}
UserId = Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{1,64}$")]


class StaffCreate(BaseModel):
    """A new staff member of the museum in the path. No role and no museum
    here: `admin` is the only choice (museum, or museum + museum-admin)."""

    model_config = ConfigDict(extra="forbid")

    # Keycloak keeps usernames in lower case
    username: str = Field(pattern=r"^[a-z0-9][a-z0-9._@-]{2,63}$")
    email: str = Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    first_name: str | None = Field(default=None, min_length=1, max_length=100)
    last_name: str | None = Field(default=None, min_length=1, max_length=100)
    admin: bool = False


class StaffRead(BaseModel):
    """A staff member as the provider has it (read from catalog.staff.StaffMember)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    username: str
    email: str | None
    first_name: str | None
    last_name: str | None
    museum_id: str | None
    admin: bool
    enabled: bool  # false: removed


class StaffCreated(StaffRead):
    # shown once, never stored: the user must replace it at first sign-in
    temporary_password: str


class StaffPage(BaseModel):
    items: list[StaffRead]


def _directory(request: Request) -> StaffDirectory | None:
    directory: StaffDirectory | None = request.app.state.staff_directory
    return directory


@router.post(
    "/museums/{museum_id}/staff",
    status_code=201,
    response_model=StaffCreated,
    responses=STAFF_ERRORS,
)
async def add_staff(
    request: Request, museum_id: str, body: StaffCreate, actor: CurrentPrincipal, store: Store
) -> Response:
    """Onboard a staff member: an operator for any museum (its first
    administrator, say), a museum's administrator for its own."""
    member, password = await staff.onboard_staff(
        directory=_directory(request),
        museums=store,
        actor=actor,
        museum_id=museum_id,
        new=NewStaff(**body.model_dump()),
    )
    created = StaffCreated(
        **StaffRead.model_validate(member).model_dump(), temporary_password=password
    )
    return Response(
        created.model_dump_json(), status_code=201, media_type="application/json", headers=NO_STORE
    )


@router.get("/museums/{museum_id}/staff", response_model=StaffPage, responses=STAFF_ERRORS)
async def list_staff(
    request: Request, museum_id: str, actor: CurrentPrincipal, store: Store
) -> Response:
    """The museum's users (removed ones with enabled=false), for an operator or
    the museum's administrators."""
    members = await staff.list_staff(
        directory=_directory(request), museums=store, actor=actor, museum_id=museum_id
    )
    ordered = sorted(members, key=lambda m: m.username)
    page = StaffPage(items=[StaffRead.model_validate(m) for m in ordered])
    return Response(page.model_dump_json(), media_type="application/json", headers=NO_STORE)


@router.delete("/museums/{museum_id}/staff/{user_id}", status_code=204, responses=STAFF_ERRORS)
async def remove_staff(
    request: Request, museum_id: str, user_id: UserId, actor: CurrentPrincipal, store: Store
) -> Response:
    """Disable the user and end its sessions (access tokens already issued
    stay valid until they expire: the realm's lifetime, 5 minutes)."""
    await staff.remove_staff(
        directory=_directory(request),
        museums=store,
        actor=actor,
        museum_id=museum_id,
        user_id=user_id,
    )
    return Response(status_code=204)
