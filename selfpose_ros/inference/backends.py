"""The factory that picks a pose back-end by name: the depth-only baseline, the test oracle or a checkpoint."""

from __future__ import annotations

from collections.abc import Sequence

from selfpose_ros.inference.estimator import Estimator, SolverOptions


def make_estimator(model: str, categories: Sequence[str], options: SolverOptions) -> Estimator:
    """Return the back-end named by ``model``: 'prior_fit' (depth-only baseline), 'oracle' (tests) or a checkpoint."""
    if model == "prior_fit":
        from selfpose_ros.inference.prior_fit_estimator import PriorFitEstimator

        return PriorFitEstimator(categories, options)
    if model == "oracle":
        from selfpose_ros.inference.oracle_estimator import OracleEstimator

        return OracleEstimator(categories, options)
    from pathlib import Path

    if not Path(model).is_file():
        raise ValueError(f"model {model!r} is neither 'prior_fit' nor an existing checkpoint file")
    from selfpose_ros.inference.cse_estimator import CSEEstimator

    return CSEEstimator(model, categories, options)
