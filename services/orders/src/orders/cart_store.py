"""Carts, by `_id` only; saves are rev-checked."""

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from orders.domain import Cart, CartLine
from orders.filters import by_id, rev_guard

__all__ = ["CartStore"]

Doc = dict[str, Any]


def _cart_from_doc(doc: Doc) -> Cart:
    return Cart(
        cart_id=doc["_id"],
        owner=doc.get("owner"),
        lines=[CartLine(x["product_id"], x["quantity"]) for x in doc["lines"]],
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        order_id=doc.get("order_id"),
        rev=doc["rev"],
    )


class CartStore:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._carts: AsyncCollection[Doc] = db["carts"]

    async def insert(self, cart: Cart) -> None:
        await self._carts.insert_one({"_id": cart.cart_id, **_cart_state(cart), "rev": 1})
        cart.rev = 1

    async def get(self, cart_id: str) -> Cart | None:
        doc = await self._carts.find_one(by_id(cart_id))
        return _cart_from_doc(doc) if doc else None

    async def save(self, cart: Cart) -> bool:
        result = await self._carts.update_one(
            rev_guard(cart.cart_id, cart.rev),
            {"$set": {**_cart_state(cart), "rev": cart.rev + 1}},
        )
        if result.matched_count != 1:
            return False
        cart.rev += 1
        return True


def _cart_state(cart: Cart) -> Doc:
    return {
        "owner": cart.owner,
        "lines": [{"product_id": x.product_id, "quantity": x.quantity} for x in cart.lines],
        "created_at": cart.created_at,
        "updated_at": cart.updated_at,
        "order_id": cart.order_id,
    }
