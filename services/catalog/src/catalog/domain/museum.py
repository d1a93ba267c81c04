"""Museums (and galleries, libraries, institutes, heritage sites): the
institutions that hold relics."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from catalog.domain.edits import apply_edits
from contracts import Event
from contracts.catalog import MuseumRegistered, MuseumUpdated

__all__ = [
    "Museum",
    "MuseumKind",
]

MuseumKind = Literal["museum", "gallery", "library", "archaeological_institute", "heritage_site"]


@dataclass
class Museum:
    id: str
    name_zh: str
    name_en: str
    city: str
    province: str
    kind: MuseumKind
    state_owned: bool
    heritage_level: str | None
    created_at: datetime
    updated_at: datetime
    version: int = 1
    events: list[Event] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def register(cls, **values: object) -> "Museum":
        museum = cls(**values)  # type: ignore[arg-type]
        museum.events.append(MuseumRegistered(**museum._event_fields()))
        return museum

    def revise(self, changes: Mapping[str, object], now: datetime) -> bool:
        if not apply_edits(self, changes, _MUSEUM_EDITABLE):
            return False
        self.version += 1
        self.updated_at = now
        self.events.append(MuseumUpdated(**self._event_fields()))
        return True

    def _event_fields(self) -> dict[str, object]:
        return {
            "museum_id": self.id,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "city": self.city,
            "province": self.province,
            "kind": self.kind,
            "state_owned": self.state_owned,
            "heritage_level": self.heritage_level,
        }


_MUSEUM_EDITABLE = frozenset(
    {"name_zh", "name_en", "city", "province", "kind", "state_owned", "heritage_level"}
)
