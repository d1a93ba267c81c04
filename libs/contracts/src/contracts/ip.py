"""Events published by the ip service."""

__all__: list[str] = []
