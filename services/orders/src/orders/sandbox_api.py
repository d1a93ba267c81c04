"""The sandbox provider's own routes, as a provider's dashboard and test
helpers would offer them (Stripe has `test_helpers`): an operator reads a
charge (status, amount, refunds) and gives a `tok_sandbox_processing` charge
its verdict later, as a bank would. Off in production."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel

from orders.errors import ChargeNotFound, NotAllowed
from orders.payments import ProviderCharge
from orders.sandbox import SandboxProvider
from servicekit.auth import CurrentPrincipal, Principal, Role

__all__ = ["ChargeRead", "router"]

router = APIRouter(prefix="/payments/sandbox", tags=["sandbox provider"])


class ChargeRead(BaseModel):
    provider_ref: str
    payment_id: str
    order_id: str
    status: Literal["processing", "approved", "declined"]
    amount_fen: int
    refunded_fen: int
    failure_reason: str | None

    @classmethod
    def of(cls, c: ProviderCharge) -> ChargeRead:
        return cls(
            provider_ref=c.provider_ref,
            payment_id=c.payment_id,
            order_id=c.order_id,
            status=c.status,
            amount_fen=c.amount_fen,
            refunded_fen=c.refunded_fen,
            failure_reason=c.failure_reason,
        )


def _sandbox(request: Request, principal: Principal) -> SandboxProvider:
    if request.app.state.runtime.settings.environment == "production":
        raise NotAllowed("the sandbox provider's controls are off in production")
    if principal.role is not Role.OPERATOR:
        raise NotAllowed("only an operator may use the sandbox provider's controls")
    sandbox: SandboxProvider = request.app.state.sandbox
    return sandbox


@router.get("/charges/{provider_ref}", summary="A charge as the provider holds it")
async def read_charge(
    provider_ref: str, request: Request, principal: CurrentPrincipal
) -> ChargeRead:
    charge = await _sandbox(request, principal).retrieve(provider_ref)
    if charge is None:
        raise ChargeNotFound(provider_ref)
    return ChargeRead.of(charge)


@router.post(
    "/charges/{provider_ref}/{verdict}",
    summary="Approve or decline a processing charge; its webhook follows",
)
async def complete_charge(
    provider_ref: str,
    verdict: Literal["approve", "decline"],
    request: Request,
    principal: CurrentPrincipal,
) -> ChargeRead:
    charge = await _sandbox(request, principal).complete(provider_ref, approve=verdict == "approve")
    if charge is None:
        raise ChargeNotFound(provider_ref)
    return ChargeRead.of(charge)
