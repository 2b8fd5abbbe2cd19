"""A tuning job as the service stores it, for the report tests; `hostile` puts markup in every
text a user or provider controls."""

from __future__ import annotations

from typing import Any

from chalicelib.tuning.cost import estimate
from chalicelib.tuning.families import check_hyperparameters
from chalicelib.tuning.loss import early_stop, parse_bedrock

HOSTILE = '<script>window.__pwned = "name"</script><img src=x onerror=alert(1)>'
TRAINING = "step_number,epoch_number,training_loss,perplexity\n" + "".join(
    f"{s},{s // 10 + 1},{2.5 - s * 0.05:.3f},1\n" for s in range(40)
)
VALIDATION = "step_number,epoch_number,validation_loss,validation_perplexity\n" + "".join(
    f"{s},{s // 10 + 1},{v},1\n" for s, v in ((9, 2.2), (19, 1.8), (29, 1.9), (39, 2.0))
)


def make_job(hostile: bool = False) -> dict[str, Any]:
    text = HOSTILE if hostile else ""
    hp = check_hyperparameters("anthropic.claude-3-haiku-20240307-v1:0", {"epochCount": 6})
    series = parse_bedrock(TRAINING, VALIDATION)
    stop = early_stop(series, 6)
    return {
        "name": "drugs" + text,
        "tuning_job_id": "tj-1" + text,
        "provider": "bedrock",
        "base_model": "anthropic.claude-3-haiku-20240307-v1:0",
        "status": "succeeded",
        "custom_model": "arn:aws:bedrock:us-east-1:123456789012:custom-model/x/abc" + text,
        "failure_message": None,
        "created_at": "2026-12-02T19:00:00+00:00",
        "finished_at": "2026-12-02T19:30:00+00:00",
        "hyperparameters": hp.as_json(),
        "data": {
            "training": {
                "role": "training",
                "format": "bedrock",
                "records": 782,
                "estimated_tokens": 120_000,
                "completions": {"positive": 505, "negative": 205, "neutral" + text: 72},
            }
        },
        "estimated_cost": estimate(120_000, 6, "anthropic.claude-3-haiku-20240307-v1:0").as_json(),
        "actual_cost_usd": 5.1,
        "metrics": [p.as_json() for p in series],
        "early_stopping": stop.as_json() if stop else None,
    }
