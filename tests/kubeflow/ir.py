"""Read a KFP IR file the way KFP does, and expose its DAG per ZenML step."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass
class Task:
    """One task of the root DAG with its container."""

    key: str
    step: str  # ZenML sets the display name to the step name
    depends_on: set[str]  # task keys
    image: str
    command: list[str]
    args: list[str]
    env: dict[str, str]


def load_documents(path: Path) -> list[dict[str, Any]]:
    """The IR's YAML documents (the PipelineSpec first, then any PlatformSpec)."""
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def strict_parse(path: Path) -> Any:
    """Parse the PipelineSpec into KFP's proto, rejecting unknown fields."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    spec = pipeline_spec_pb2.PipelineSpec()
    json_format.ParseDict(load_documents(path)[0], spec, ignore_unknown_fields=False)
    return spec


def tasks(path: Path) -> dict[str, Task]:
    """Root DAG tasks by ZenML step name."""
    doc = load_documents(path)[0]
    executors = doc["deploymentSpec"]["executors"]
    out: dict[str, Task] = {}
    for key, task in doc["root"]["dag"]["tasks"].items():
        component = doc["components"][task["componentRef"]["name"]]
        container = executors[component["executorLabel"]]["container"]
        step = task["taskInfo"]["name"]
        out[step] = Task(
            key=key,
            step=step,
            depends_on=set(task.get("dependentTasks", [])),
            image=container["image"],
            command=list(container.get("command", [])),
            args=list(container.get("args", [])),
            env={e["name"]: e["value"] for e in container.get("env", [])},
        )
    return out


def step_edges(by_step: dict[str, Task]) -> dict[str, set[str]]:
    """Upstream steps of each step, read from the IR's dependentTasks."""
    step_of = {t.key: t.step for t in by_step.values()}
    return {s: {step_of[k] for k in t.depends_on} for s, t in by_step.items()}


def reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    """Every step upstream of `start` (transitively)."""
    seen: set[str] = set()
    todo = list(edges[start])
    while todo:
        s = todo.pop()
        if s not in seen:
            seen.add(s)
            todo.extend(edges[s])
    return seen


def independent(edges: dict[str, set[str]], a: str, b: str) -> bool:
    """No path between a and b: a cluster may run them as parallel pods."""
    return a not in reachable(edges, b) and b not in reachable(edges, a)
