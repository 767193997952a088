"""Step: serve a built Bento locally, replacing the running one, and check it answers."""

from typing import Annotated, Any

from zenml import log_metadata, step
from zenml.logger import get_logger

from retail_mlops.deploy.deployer import DeployParams, deploy
from retail_mlops.names import A

logger = get_logger(__name__)


DEFAULTS = DeployParams()  # the step's defaults; bounds and types are the model's


@step(enable_cache=False)
def deploy_bento(
    service: str,
    bento_tag: str,
    release: dict[str, Any],
    port: int,
    host: str = DEFAULTS.host,
) -> Annotated[dict[str, Any], A.DEPLOYMENT]:
    """Start `bentoml serve BENTO` in its own session, wait for /readyz, send a smoke request.

    The previous deployment of the service is stopped first and restored if the new one
    fails, so a failed run leaves the old service answering. `run.py deployments` lists
    what runs; `run.py deployment --rollback` goes back to the previous Bento.

    Returns:
        service, bento, url, pid, models.
    """
    params = DeployParams.of(locals())
    dep = deploy(service, bento_tag, port, release, host=params.host)
    info = {
        "service": service,
        "bento": bento_tag,
        "url": dep.url,
        "pid": dep.pid,
        "models": dep.models,
    }
    logger.info("%s service %s answers at %s (pid %d)", service, bento_tag, dep.url, dep.pid)
    log_metadata(metadata={"deployment": info}, infer_artifact=True)
    return info
