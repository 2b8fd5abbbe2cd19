"""EVALUATION_* settings: parsed with the app's settings, a bad value stops the app at start with
its name."""

from __future__ import annotations

import pytest

from chalicelib.config.settings import JobSettings, settings_from_env
from chalicelib.errors import ConfigurationError

BASE = {"MODELS_FILE": "models.json", "API_KEY_HASHES": "a" * 64, "FEEDBACK_TOKEN_SECRET": "s"}


def jobs(**env: str) -> JobSettings:
    return settings_from_env({**BASE, **env}).jobs


def test_dataset_prefixes_are_a_comma_separated_list_of_s3_prefixes() -> None:
    assert jobs(EVALUATION_DATASET_PREFIXES=" s3://a/sets/ ,s3://b , ").dataset_prefixes == (
        "s3://a/sets/",
        "s3://b/",
    )
    assert jobs().dataset_prefixes == ()  # the results bucket's datasets/
    for bad in ("https://a/sets/", "s3://", "a/sets/"):
        with pytest.raises(ConfigurationError, match="EVALUATION_DATASET_PREFIXES"):
            jobs(EVALUATION_DATASET_PREFIXES=bad)


def test_retention_is_bounded() -> None:
    assert jobs().retention_days == 90
    with pytest.raises(ConfigurationError, match="EVALUATION_RETENTION_DAYS"):
        jobs(EVALUATION_RETENTION_DAYS="0")


def test_one_parser_one_error_format_for_app_and_job_variables() -> None:
    """A bad app variable and a bad job variable are reported together, each by its name."""
    with pytest.raises(ConfigurationError) as caught:
        settings_from_env({**BASE, "MAX_BODY_BYTES": "1", "EVALUATION_CHUNK_SIZE": "0"})
    message = str(caught.value)
    assert message.startswith("bad configuration: ")
    assert "MAX_BODY_BYTES: " in message and "EVALUATION_CHUNK_SIZE: " in message
    assert settings_from_env({**BASE, "EVALUATION_CHUNK_SIZE": "7"}).jobs.chunk_size == 7
    # The app's and the jobs' MAX_BODY_BYTES are separate variables.
    both = settings_from_env({**BASE, "EVALUATION_MAX_BODY_BYTES": "2048"})
    assert (both.max_body_bytes, both.jobs.max_body_bytes) == (262144, 2048)
