"""The orders service: Storefront carts, the checkout saga, payments, expiry and refunds."""
