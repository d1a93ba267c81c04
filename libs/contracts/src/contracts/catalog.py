"""Events published by the catalog service."""

__all__: list[str] = []
