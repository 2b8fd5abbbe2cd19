"""Hyperparameters checked against the documented families: every bad field named with its
allowed range, unknown names too, defaults filled and marked."""

from __future__ import annotations

import pytest

from chalicelib.errors import InvalidRequest
from chalicelib.tuning.families import (
    AUTO,
    FAMILIES,
    base_model_id,
    check_hyperparameters,
    check_incremental,
    family_for,
    is_tuned,
)

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0:200k"


def reasons(exc: pytest.ExceptionInfo[InvalidRequest]) -> dict[str, str]:
    assert exc.value.status == 400 and exc.value.code == "invalid_request"
    return {d["field"]: d["reason"] for d in exc.value.details or []}


def test_haiku_defaults_are_filled_and_marked() -> None:
    checked = check_hyperparameters(HAIKU, {"epochCount": 3})
    assert checked.family == "claude-3-haiku"
    assert checked.values == {
        "epochCount": 3,
        "batchSize": 32,
        "learningRateMultiplier": 1,
        "earlyStoppingThreshold": 0.001,
        "earlyStoppingPatience": 2,
    }
    assert "epochCount" not in checked.defaulted
    assert checked.defaulted == {
        "batchSize",
        "learningRateMultiplier",
        "earlyStoppingThreshold",
        "earlyStoppingPatience",
    }
    assert checked.as_json()["epochCount"] == {"value": 3, "default": False}
    assert checked.as_json()["batchSize"] == {"value": 32, "default": True}
    assert checked.as_provider()["epochCount"] == "3"


def test_every_bad_field_is_named_with_its_range() -> None:
    with pytest.raises(InvalidRequest) as exc:
        check_hyperparameters(
            HAIKU,
            {
                "epochCount": 11,
                "batchSize": 2.5,
                "learningRateMultiplier": "fast",
                "earlyStoppingThreshold": 0.2,
                "epochs": 3,
            },
        )
    found = reasons(exc)
    assert (
        "1-10" in found["hyperparameters.epochCount"]
        and "11" in found["hyperparameters.epochCount"]
    )
    assert "an integer 4-256" in found["hyperparameters.batchSize"]
    assert "0.1-2" in found["hyperparameters.learningRateMultiplier"]
    assert "0-0.1" in found["hyperparameters.earlyStoppingThreshold"]
    assert "unknown" in found["hyperparameters.epochs"]
    assert "epochCount" in found["hyperparameters.epochs"]  # lists the allowed names


@pytest.mark.parametrize("value", [True, float("nan"), float("inf"), None])
def test_non_numbers_are_refused_or_defaulted(value: object) -> None:
    if value is None:  # an explicit null means "use the default"
        assert check_hyperparameters(HAIKU, {"epochCount": None}).values["epochCount"] == 2
        return
    with pytest.raises(InvalidRequest) as exc:
        check_hyperparameters(HAIKU, {"epochCount": value})
    assert "hyperparameters.epochCount" in reasons(exc)


def test_bounds_are_inclusive() -> None:
    checked = check_hyperparameters(HAIKU, {"epochCount": 1, "batchSize": 256})
    assert checked.values["epochCount"] == 1 and checked.values["batchSize"] == 256
    assert isinstance(check_hyperparameters(HAIKU, {"batchSize": 8.0}).values["batchSize"], int)


def test_openai_auto_and_positive_multiplier() -> None:
    checked = check_hyperparameters("gpt-4o-mini-2024-07-18", {"n_epochs": 4})
    assert checked.values == {"n_epochs": 4, "batch_size": AUTO, "learning_rate_multiplier": AUTO}
    assert check_hyperparameters("davinci-002", {"batch_size": AUTO}).values["batch_size"] == AUTO
    with pytest.raises(InvalidRequest) as exc:
        check_hyperparameters(
            "gpt-4o-mini-2024-07-18", {"learning_rate_multiplier": 0, "n_epochs": 51}
        )
    found = reasons(exc)
    assert "> 0" in found["hyperparameters.learning_rate_multiplier"]
    assert "1-50" in found["hyperparameters.n_epochs"]


def test_auto_is_refused_where_the_family_has_no_auto() -> None:
    with pytest.raises(InvalidRequest):
        check_hyperparameters(HAIKU, {"epochCount": AUTO})


@pytest.mark.parametrize(
    ("model", "family"),
    [
        (HAIKU, "claude-3-haiku"),
        ("arn:aws:bedrock:us-east-1::foundation-model/" + HAIKU, "claude-3-haiku"),
        (
            "arn:aws:bedrock:us-east-1:123456789012:custom-model/" + HAIKU + "/a1b2c3d4e5f6",
            "claude-3-haiku",
        ),
        ("amazon.nova-lite-v1:0:300k", "nova"),
        ("meta.llama3-2-3b-instruct-v1:0", "llama-3"),
        ("amazon.titan-text-express-v1:0:8k", "titan-text"),
        ("amazon.titan-text-premier-v1:0", "titan-text-premier"),
        ("ft:gpt-4o-mini-2024-07-18:acme:drugs:9xYz", "openai-chat"),
        ("ft:davinci-002:acme::abc", "openai-completion"),
        ("nova", "nova"),
    ],
)
def test_family_of_base_arn_and_tuned_models(model: str, family: str) -> None:
    assert family_for(model).name == family


def test_lineage_helpers() -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:custom-model/" + HAIKU + "/a1b2c3d4e5f6"
    assert base_model_id(arn) == HAIKU and is_tuned(arn)
    assert not is_tuned(HAIKU) and is_tuned("ft:davinci-002:acme::abc")
    assert check_incremental("ft:gpt-4o-mini-2024-07-18:acme::x").name == "openai-chat"


def test_unknown_base_model_is_a_400_naming_base_model() -> None:
    with pytest.raises(InvalidRequest) as exc:
        family_for("acme.mystery-v1")
    assert "base_model" in reasons(exc)


def test_every_row_is_sourced_and_consistent() -> None:
    for family in FAMILIES:
        assert family.source.startswith("https://") and family.checked
        for spec in family.hyperparameters:
            if spec.minimum is not None and spec.maximum is not None:
                assert spec.minimum <= spec.maximum
            if isinstance(spec.default, int | float):
                check_hyperparameters(family, {spec.name: spec.default})
        assert family.as_json()["hyperparameters"]
