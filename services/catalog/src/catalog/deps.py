"""Dependency aliases for the routes."""

from typing import Annotated

from fastapi import Depends, Request

from catalog.search_index import SearchIndex
from catalog.store import CatalogStore
from servicekit.app import Runtime

__all__ = ["Index", "RuntimeDep", "Store"]


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _store(runtime: Annotated[Runtime, Depends(_runtime)]) -> CatalogStore:
    return CatalogStore(runtime.db)


RuntimeDep = Annotated[Runtime, Depends(_runtime)]
Store = Annotated[CatalogStore, Depends(_store)]


def _index(request: Request) -> SearchIndex:
    index: SearchIndex = request.app.state.search_index
    return index


Index = Annotated[SearchIndex, Depends(_index)]
