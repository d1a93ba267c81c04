"""Events published by the orders service."""

__all__: list[str] = []
