from __future__ import annotations

import pytest

from ray_platform.settings import get_settings
from tests.fixtures.ray import job_result, submit_job

pytestmark = pytest.mark.integration


def test_cluster_has_head_and_worker(ray_cluster):
    status = ray_cluster.status()
    assert status.running
    assert status.alive_nodes >= 2


def test_start_when_running_is_a_no_op(ray_cluster):
    assert ray_cluster.start() is False
    assert ray_cluster.status().alive_nodes >= 2


def test_ray_job_submit_runs_project_code_on_both_nodes(ray_cluster):
    out = submit_job(ray_cluster, "ray_platform.jobs.smoke", "--rows", "1000")
    result = job_result(out)
    assert "succeeded" in out
    assert result["nodes_answered"] == result["nodes"] >= 2
    assert result["sum_of_squares"] == sum(i * i for i in range(1000))
    # The job sees the submitter's settings, not whatever the cluster was started with.
    assert result["lake_uri"] == get_settings().lake_uri
