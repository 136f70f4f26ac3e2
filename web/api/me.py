"""Who the API thinks you are: lets the add-in show the signed-in user and check sign-in."""

from __future__ import annotations

from fastapi import APIRouter

from web.deps import CurrentUser
from web.schemas.common import ApiModel

router = APIRouter(tags=["session"])


class MePublic(ApiModel):
    id: int
    email: str
    display_name: str
    role: str
    signed_in_with: str


@router.get("/me", response_model=MePublic, summary="The signed-in user")
def me(user: CurrentUser) -> MePublic:
    return MePublic(
        id=user.user_id,
        email=user.email,
        display_name=user.display_name,
        role=user.role,
        signed_in_with=user.method,
    )
