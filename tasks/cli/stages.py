"""One task per inventory file: ``fab production deploy`` selects that stage's hosts."""
from __future__ import annotations

from invoke import Context, Task

from ..targets import stage_names


def stage_task(name: str) -> Task:
    """A task named after a stage that selects its hosts for the tasks after it."""
    def select(c: Context) -> None:
        c.config.wsgideploy_stage = name
    select.__doc__ = f"Select every host of the stage {name} ({name}.toml) for the tasks that follow."
    select.__name__ = name
    return Task(select, name=name)


def stage_tasks(reserved: set[str]) -> list[Task]:
    """A stage task for each inventory whose name is not already a task name."""
    return [stage_task(name) for name in stage_names() if name not in reserved]
