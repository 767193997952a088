"""Execute a compiled KFP IR with KFP's own local DockerRunner (kfp 2.16.1 from the lock).

    python -m tests.kubeflow.run_ir IR.yaml --run-id ID --pipeline-root DIR

DOCKER_HOST points at podman's Docker-compatible socket. kfp 2.16.1's local runner needs three
fixes, all applied here rather than with a second, unlocked kfp:

1. It drops the container `env:` of the IR (passed from kfp 2.17.0 on); ZenML's steps need it
   (ZENML_STORE_URL, KFP_RUN_ID, ...). The env of each task's executor is passed here.
2. It decodes each log chunk on its own and crashes (UnicodeDecodeError) when a multi-byte
   character straddles two chunks; decoding here is incremental.
3. It does not substitute `{{$.pipeline_job_name}}` inside env values (the KFP backend does);
   ZenML uses it as KFP_RUN_ID, its orchestrator run id. A copy of the IR gets `--run-id`.

Also, with `auto_remove=True` it reports a container that is gone before `wait()` as exit 0;
here the container is kept until its real exit status is read, then removed.
"""

from __future__ import annotations

import argparse
import codecs
import sys
from pathlib import Path
from typing import Any

_TASK_ENV: dict[str, str] = {}


def _patch_kfp_local() -> None:
    from kfp.local import docker_task_handler, task_dispatcher

    original = task_dispatcher.run_single_task_implementation

    def run_single_task_implementation(*args: Any, **kwargs: Any) -> Any:
        executor_spec = kwargs["executor_spec"]
        _TASK_ENV.clear()
        _TASK_ENV.update({e.name: e.value for e in executor_spec.container.env})
        return original(*args, **kwargs)

    def run_docker_container(
        client: Any, image: str, command: list[str], volumes: dict[str, Any], **run_args: Any
    ) -> int:
        image = docker_task_handler.add_latest_tag_if_not_present(image=image)
        if not any(
            image in (i.tags + i.attrs.get("RepoDigests", [])) for i in client.images.list()
        ):
            print(f"Pulling image {image!r}", flush=True)  # noqa: T201
            client.images.pull(image)
        container = client.containers.run(
            image=image,
            command=command,
            detach=True,
            volumes=volumes,
            environment=dict(_TASK_ENV),
            **run_args,
        )
        try:
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            for chunk in container.logs(stream=True, follow=True):
                sys.stdout.write(decoder.decode(chunk))
            sys.stdout.write(decoder.decode(b"", final=True))
            code = int(container.wait()["StatusCode"])
            print(f"[harness] container {container.short_id} of {image} exited {code}", flush=True)  # noqa: T201
            return code
        finally:
            container.remove(force=True)

    task_dispatcher.run_single_task_implementation = run_single_task_implementation
    docker_task_handler.run_docker_container = run_docker_container


def main() -> None:
    """Substitute the run id, patch kfp.local, run the pipeline; exit 1 if it fails."""
    parser = argparse.ArgumentParser()
    parser.add_argument("ir", type=Path)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--pipeline-root", required=True, type=Path)
    args = parser.parse_args()

    from kfp import components, local

    args.pipeline_root.mkdir(parents=True, exist_ok=True)
    ir_copy = args.pipeline_root / args.ir.name
    ir_copy.write_text(args.ir.read_text().replace("{{$.pipeline_job_name}}", args.run_id))
    _patch_kfp_local()
    local.init(
        runner=local.DockerRunner(network_mode="host"),
        pipeline_root=str(args.pipeline_root / "outputs"),
        raise_on_error=True,
    )
    pipeline = components.load_component_from_file(str(ir_copy))
    pipeline()
    print("KFP local run finished", flush=True)  # noqa: T201


if __name__ == "__main__":
    main()
