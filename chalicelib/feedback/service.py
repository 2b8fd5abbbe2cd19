"""Feedback on individual answers: store one rating per invocation, summarise it per model, and
turn well-rated answers back into fine-tuning data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chalicelib.api.models import RequestBody
from chalicelib.dataprep.formats import openai_record
from chalicelib.errors import InvalidRequest
from chalicelib.formats.base import Message, Prompt, transcript
from chalicelib.observability import MetricUnit, add_version_dimensions, logger, metrics
from chalicelib.serving.feedback_tokens import read_feedback_token
from chalicelib.storage.feedback import FeedbackRecord, FeedbackStore
from chalicelib.storage.invocations import InvocationRecord, InvocationStore

#: Without `min_rating`, an answer becomes training data when rated at least this well.
DEFAULT_MIN_RATING = 4
#: `correction_source` of a correction posted through the public, token-authorised route.
PUBLIC = "public"
#: What the export does with public corrections (see `exported`).
PublicCorrections = Literal["exclude", "include", "only"]


class FeedbackRequest(RequestBody):
    invocation_id: str = Field(min_length=1, max_length=128)
    feedback_token: str = Field(min_length=1, max_length=1024)
    rating: int | None = Field(default=None, ge=1, le=5)
    thumbs: Literal["up", "down"] | None = None
    comment: str | None = Field(default=None, max_length=2000)
    correction: str | None = Field(default=None, min_length=1, max_length=10000)

    @model_validator(mode="after")
    def _rated(self) -> FeedbackRequest:
        if self.rating is None and self.thumbs is None:
            raise ValueError("send at least one of 'rating' or 'thumbs'")
        return self


class SummaryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: str | None = Field(default=None, alias="from", max_length=64)
    end: str | None = Field(default=None, alias="to", max_length=64)


class ExportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=64)
    min_rating: int | None = Field(default=None, ge=1, le=5)
    format: Literal["openai", "bedrock"] = "openai"
    public_corrections: PublicCorrections = Field(
        default="exclude",
        description=(
            "Corrections posted with a feedback token (anyone holding a widget's token): "
            "`exclude` skips those records, `include` exports the correction as the answer, "
            "`only` lists just those records, for review."
        ),
    )


@dataclass(frozen=True, slots=True)
class FeedbackResult:
    created: bool
    record: FeedbackRecord


def utc_iso(moment: datetime) -> str:
    """The one timestamp spelling stored and compared (lexicographic order = time order)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def submit_feedback(
    request: FeedbackRequest, store: FeedbackStore, secret: bytes, now: datetime
) -> FeedbackResult:
    signed = read_feedback_token(
        secret, request.feedback_token, request.invocation_id, now=now.timestamp()
    )
    model, _, number = signed.partition("@")  # the version that answered, in the signed token
    version = int(number) if number else None
    record = FeedbackRecord(
        invocation_id=request.invocation_id,
        model=model,
        version=version,
        updated_at=utc_iso(now),
        rating=request.rating,
        thumbs=request.thumbs,
        comment=request.comment,
        correction=request.correction,
        correction_source=PUBLIC if request.correction else None,
    )
    # The rated invocation's id is the correlation id: its invoke and feedback logs join up.
    logger.set_correlation_id(request.invocation_id)
    logger.append_keys(invocation_id=request.invocation_id, model=model, version=version)
    created, stored = store.upsert(record)
    logger.info(  # never the comment or correction text
        "feedback",
        extra={
            "first_rating": created,
            "rating": request.rating,
            "thumbs": request.thumbs,
            "has_comment": bool(request.comment),
            "has_correction": bool(request.correction),
        },
    )
    metrics.add_dimension(name="model", value=model)
    if version is not None:
        add_version_dimensions(model, version)
    if request.rating is not None:
        metrics.add_metric(name="FeedbackRating", unit=MetricUnit.Count, value=request.rating)
    if request.thumbs == "up":
        metrics.add_metric(name="FeedbackThumbsUp", unit=MetricUnit.Count, value=1)
    elif request.thumbs == "down":
        metrics.add_metric(name="FeedbackThumbsDown", unit=MetricUnit.Count, value=1)
    return FeedbackResult(created=created, record=stored)


def parse_time(value: str | None, field: str) -> str | None:
    """`value` as the stored UTC spelling. A time near year 1 or 9999 with an offset has no
    UTC equivalent in `datetime` (OverflowError): refused like any other bad time."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return utc_iso(moment)
    except ValueError:
        message, reason = "is not an ISO 8601 time", "expected e.g. 2026-11-21T10:00:00Z"
    except OverflowError:
        message, reason = "is out of range", "outside years 1 to 9999 once converted to UTC"
    raise InvalidRequest(f"'{field}' {message}.", details=[{"field": field, "reason": reason}])


def summarize(
    store: FeedbackStore, model: str, start: str | None, end: str | None
) -> dict[str, object]:
    if start and end and start > end:
        raise InvalidRequest(
            "'from' is after 'to'.", details=[{"field": "from", "reason": "must be <= to"}]
        )
    distribution = {str(stars): 0 for stars in range(1, 6)}
    count = rated = total = up = down = 0
    for record in store.for_model(model, start, end):
        count += 1
        if record.rating is not None:
            distribution[str(record.rating)] += 1
            rated += 1
            total += record.rating
        up += record.thumbs == "up"
        down += record.thumbs == "down"
    return {
        "model": model,
        "from": start,
        "to": end,
        "count": count,
        "rating": {"mean": total / rated if rated else None, "distribution": distribution},
        "thumbs": {"up": up, "down": down, "up_rate": up / (up + down) if up + down else None},
    }


def has_public_correction(record: FeedbackRecord) -> bool:
    """A correction anyone with the widget's token could have written (every correction today:
    the token route is the only one, and records stored before sources were kept are public)."""
    return bool(record.correction) and record.correction_source in (None, PUBLIC)


def is_training_worthy(record: FeedbackRecord, min_rating: int | None) -> bool:
    """A correction is always good data; otherwise the answer must be rated well enough
    (or, with no star rating and no explicit threshold, thumbed up)."""
    if record.correction:
        return True
    if record.rating is not None:
        return record.rating >= (min_rating if min_rating is not None else DEFAULT_MIN_RATING)
    return min_rating is None and record.thumbs == "up"


def exported(
    record: FeedbackRecord, min_rating: int | None, public_corrections: PublicCorrections
) -> bool:
    """Whether `record` goes into the export. A record with a public correction is skipped unless
    asked for: its correction is an anonymous text (it could carry a link or an instruction
    into the next model), and its output is the answer the rater disputed, so neither is data
    until someone has read it (`only` lists exactly those records)."""
    public = has_public_correction(record)
    if public_corrections == "only":
        return public
    if public and public_corrections == "exclude":
        return False
    return is_training_worthy(record, min_rating)


def training_line(fmt: str, invocation: InvocationRecord, answer: str) -> str:
    stored = invocation.input or {}
    messages = tuple(Message(m["role"], m["content"]) for m in stored.get("messages", []))
    system = stored.get("system")
    if fmt == "openai":
        prompt_text = transcript(Prompt(messages=messages, system=system), "User", "Assistant")
        record: dict[str, object] = {**openai_record(prompt_text, answer.strip(), separator="")}
    else:
        record = {"system": system} if system else {}
        record["messages"] = [{"role": m.role, "content": m.content} for m in messages] + [
            {"role": "assistant", "content": answer.strip()}
        ]
    return json.dumps(record, ensure_ascii=False) + "\n"


def export_training_data(
    feedback: FeedbackStore,
    invocations: InvocationStore,
    model: str,
    min_rating: int | None,
    fmt: str,
    public_corrections: PublicCorrections = "exclude",
) -> Iterator[str]:
    """JSON Lines in fine-tuning format; an exported correction wins over the model's output."""
    worthy = [r for r in feedback.for_model(model) if exported(r, min_rating, public_corrections)]
    stored = invocations.get_many([r.invocation_id for r in worthy])
    for record in worthy:
        invocation = stored.get(record.invocation_id)
        if invocation is None or invocation.input is None:
            continue  # the deployment does not store inputs: nothing to learn from
        answer = record.correction or invocation.output
        if answer and answer.strip():
            yield training_line(fmt, invocation, answer)
