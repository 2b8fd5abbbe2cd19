"""EVALUATION_* settings: parsed once, a bad value stops the app at start with its name."""

from __future__ import annotations

import pytest

from chalicelib.errors import ConfigurationError
from chalicelib.jobs.settings import job_settings_from_env


def test_dataset_prefixes_are_a_comma_separated_list_of_s3_prefixes() -> None:
    env = {"EVALUATION_DATASET_PREFIXES": " s3://a/sets/ ,s3://b , "}
    assert job_settings_from_env(env).dataset_prefixes == ("s3://a/sets/", "s3://b/")
    assert job_settings_from_env({}).dataset_prefixes == ()  # the results bucket's datasets/
    for bad in ("https://a/sets/", "s3://", "a/sets/"):
        with pytest.raises(ConfigurationError, match="EVALUATION_DATASET_PREFIXES"):
            job_settings_from_env({"EVALUATION_DATASET_PREFIXES": bad})


def test_retention_is_bounded() -> None:
    assert job_settings_from_env({}).retention_days == 90
    with pytest.raises(ConfigurationError, match="EVALUATION_RETENTION_DAYS"):
        job_settings_from_env({"EVALUATION_RETENTION_DAYS": "0"})
