import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def qc_results(tmp_path_factory) -> Path:
    """Where the trust tests leave their figures (qc.json): ``$FLUORECON_BENCH_RESULTS/qc.json`` when a bench run
    asks for them there (``FLUORECON_BENCH_RESULTS=bench/results``), else a temporary folder. A test run never
    writes into the repository."""
    folder = os.environ.get("FLUORECON_BENCH_RESULTS")
    return (Path(folder) if folder else tmp_path_factory.mktemp("bench-results")) / "qc.json"
