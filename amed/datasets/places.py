"""The three places a data set can be read from, and which one answers a call.

1. Inside a task that uses the data set (amed set `AME_TASK`, or `AME_DATASET` for a
   producing task with inputs): its version is already placed in the task's working copy,
   checked against its manifest. That copy is read; nothing goes over the network.
2. On the daemon's host: the state database (read-only) says which version is current,
   and why there is none (status, error); the bytes come from the daemon's store.
3. Anywhere else with store credentials (`store=` or `AME_STORAGE`): the data set's
   pointer in the store names the committed versions (amed.store.pointer).

A call that names a store goes to the store. Otherwise the task's copy answers for its own
inputs, a state database found here answers for the projects it knows, and `AME_STORAGE`
for the rest. Every store error leaves this module as a DatasetError.
"""

from __future__ import annotations

import os

from amed.datasets.errors import NoStoreReachable
from amed.datasets.located import Place, open_store_cached
from amed.datasets.state_place import StatePlace
from amed.datasets.store_place import StorePlace
from amed.datasets.task_place import TaskPlace


def place_for(
    name: str | None,
    *,
    project: str | None = None,
    store: str | None = None,
    version: int | None = None,
) -> Place:
    """The place that answers for `name` (None: for a listing). A pinned `version` is
    never answered from a task's copy, whose version number the task is not told."""
    if store is None and version is None:
        task = TaskPlace.here()
        if task is not None and (name is None or task.has(name, project)):
            return task
    if store is not None:
        return StorePlace(open_store_cached(store), project)
    state, looked = StatePlace.here()
    if state is not None and (project is None or state.knows_project(project)):
        return state
    url = os.environ.get("AME_STORAGE")
    if url:
        return StorePlace(open_store_cached(url), project)
    what = f"data set {name!r}" if name else "data sets"
    raise NoStoreReachable(
        f"no place to read {what} from: not inside a task that uses it, {looked}, and no "
        "store given (pass store='s3://bucket/prefix' or set AME_STORAGE)"
    )
