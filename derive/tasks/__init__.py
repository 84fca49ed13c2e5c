"""The task catalogue: one module per task, and the registry.

Each task lives in its own module in this package and declares itself with
:func:`derive.tasks.spec.task` (what a task reads and declares is in :mod:`derive.tasks.spec`).
:data:`TASK_MODULES` lists those modules in the order the sheet format documents the tasks;
:data:`REGISTRY` maps each task's sheet name to its :class:`~derive.tasks.spec.TaskSpec` in that
order, and :data:`TASK_NAMES` (the names a part's ``task`` may take) is read from it. Importing
this package imports every task.
"""

from __future__ import annotations

from derive.tasks import (
    backprop,
    chain_rule,
    decision_boundary,
    derivative,
    network,
    shared_parameter,
)
from derive.tasks.spec import Context, TaskSpec, declared_in

__all__ = ["REGISTRY", "TASK_MODULES", "TASK_NAMES", "Context", "TaskSpec"]

TASK_MODULES = (derivative, chain_rule, backprop, shared_parameter, network, decision_boundary)

REGISTRY: dict[str, TaskSpec] = {spec.name: spec for module in TASK_MODULES
                                 for spec in declared_in(module)}

TASK_NAMES: tuple[str, ...] = tuple(REGISTRY)
