"""The base every event contract derives from, and the registry of types."""

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

__all__ = ["EVENT_TYPES", "Event", "contract_for"]

EVENT_TYPES: dict[str, type["Event"]] = {}


class Event(BaseModel):
    """One fact that happened. Subclasses set TYPE and TOPIC, and say which
    field holds the aggregate id (the Kafka key, so its events stay in order)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    TYPE: ClassVar[str]
    TOPIC: ClassVar[str]
    KEY_FIELD: ClassVar[str]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        event_type = cls.__dict__.get("TYPE")
        if event_type is None:
            return  # an abstract family base
        if event_type in EVENT_TYPES and EVENT_TYPES[event_type] is not cls:
            raise TypeError(f"event type {event_type} is registered twice")
        EVENT_TYPES[event_type] = cls

    @property
    def aggregate_id(self) -> str:
        return str(getattr(self, self.KEY_FIELD))


def contract_for(event_type: str) -> type[Event] | None:
    return EVENT_TYPES.get(event_type)
