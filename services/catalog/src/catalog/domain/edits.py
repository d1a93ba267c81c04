"""Applying a change set to an entity: only its editable fields (shared by
museums, relics and products)."""

from collections.abc import Mapping
from dataclasses import fields

from catalog.errors import InvalidChange

__all__ = [
    "apply_edits",
]


def apply_edits(entity: object, changes: Mapping[str, object], editable: frozenset[str]) -> bool:
    """Set the editable fields that differ; True when anything changed."""
    names = {f.name for f in fields(entity)}  # type: ignore[arg-type]
    changed = False
    for name, value in changes.items():
        if name not in editable or name not in names:
            raise InvalidChange(f"{name!r} cannot be changed")
        if getattr(entity, name) != value:
            setattr(entity, name, value)
            changed = True
    return changed
