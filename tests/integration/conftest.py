import pytest

from llmd_trace_e2e.deployment.collector_config import repo_collector_config
from llmd_trace_e2e.platforms.local.pipeline import TracePipeline
from llmd_trace_e2e.runtime.procs import Supervisor
from llmd_trace_e2e.commands.verify import without_filters


def _pipeline(tmp_path_factory, config):
    folder = tmp_path_factory.mktemp("pipeline")
    with Supervisor(folder) as supervisor:
        yield TracePipeline.start(supervisor, folder, config)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """The real collector (repo config) exporting to a real Jaeger."""
    yield from _pipeline(tmp_path_factory, repo_collector_config())


@pytest.fixture(scope="module")
def unfiltered_pipeline(tmp_path_factory):
    """The same, with the filter taken out: the positive control."""
    yield from _pipeline(tmp_path_factory, without_filters(repo_collector_config()))
