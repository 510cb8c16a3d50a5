"""The platform's use cases, built on the engine; for now the sample production.

``greenlight demo`` runs :func:`reset_demo_data`, :func:`seed` and
:func:`run_scenario` in that order; each returns typed results and prints nothing.
"""

from greenlight.workflows.demo import (
    CAST,
    MARKER,
    PASSWORD,
    SCENARIO_STEPS,
    CastMember,
    DemoCast,
    DemoRow,
    plate_images,
    reset_demo_data,
    run_scenario,
    seed,
)

__all__ = [
    "CAST",
    "MARKER",
    "PASSWORD",
    "SCENARIO_STEPS",
    "CastMember",
    "DemoCast",
    "DemoRow",
    "plate_images",
    "reset_demo_data",
    "run_scenario",
    "seed",
]
