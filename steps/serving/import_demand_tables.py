"""Step: the latest demand_forecasting run's tables into the BentoML store, as a release."""

from typing import Annotated, Any

from zenml import log_metadata, step
from zenml.logger import get_logger

from retail_mlops.names import A
from retail_mlops.serving.demand import DemandImportParams
from steps.client import latest_demand_release

logger = get_logger(__name__)
DEFAULTS = DemandImportParams()  # the step's defaults; bounds and types are the model's


@step(enable_cache=False)
def import_demand_tables(
    demand: dict[str, Any] | None, run: str | None = DEFAULTS.run
) -> Annotated[dict[str, Any], A.DEMAND_RELEASE]:
    """Pin a demand_forecasting run's forecast and inventory inputs for the demand service.

    Never cached: a new forecasting run must reach the service while this config stays the
    same. Importing a run twice reuses its BentoML model.

    Args:
        demand: `parameters.demand` of configs/deployment.yaml: its policy settings (lead
            time spread, order cost, holding rate, open days a year) become the /inventory
            defaults; those it leaves out are the ones the run recommended with.
        run: A demand_forecasting run name or id; the newest completed run when left out.

    Returns:
        The release (`DemandRelease` as JSON): the BentoML model `demand_forecast:<run id>`,
        its longest horizon, an example item and the policy defaults.

    Raises:
        DataError: If there is no completed run, or its tables are not servable.
    """
    params = DemandImportParams.of(locals())
    release = latest_demand_release(demand, run=params.run)
    logger.info(
        "demand release: %s (%d items, up to %d open days)",
        release.model_tag,
        release.items,
        release.max_horizon,
    )
    log_metadata(
        metadata={
            "model_tag": release.model_tag,
            "source_run": release.source_run,
            "items": release.items,
            "max_horizon": release.max_horizon,
        },
        infer_artifact=True,
    )
    return release.model_dump(mode="json")
