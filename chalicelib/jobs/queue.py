"""Sending job messages to the evaluation queue (named in settings; its URL looked up once)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import aws
from chalicelib.errors import ServiceUnavailable

_BATCH = 10  # SendMessageBatch's limit


class Message(Protocol):
    """A job step (jobs/models.py JobMessage) or a shadow copy (serving/shadow.py)."""

    def body(self) -> str: ...


class JobQueue:
    def __init__(self, queue_name: str) -> None:
        self.queue_name = queue_name
        self._url: str | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        if self._url is None:
            with self._lock:
                if self._url is None:
                    reply = aws.client("sqs").get_queue_url(QueueName=self.queue_name)
                    self._url = str(reply["QueueUrl"])
        return self._url

    def send(self, messages: Sequence[Message]) -> None:
        """Send every message (SendMessageBatch, entries that failed are sent again once)."""
        try:
            for start in range(0, len(messages), _BATCH):
                self._send_batch(list(messages[start : start + _BATCH]))
        except (ClientError, BotoCoreError) as exc:
            raise ServiceUnavailable(
                "The evaluation queue cannot be reached right now.", retry_after=5
            ) from exc

    def retry_later(self, receipt_handle: str, seconds: int) -> None:
        """Make a message that just failed visible again after `seconds` instead of the queue's
        whole visibility timeout (sized for the worker's 15 minutes, not for a blip)."""
        aws.client("sqs").change_message_visibility(
            QueueUrl=self.url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
        )

    def _send_batch(self, batch: list[Message]) -> None:
        entries = [{"Id": str(i), "MessageBody": m.body()} for i, m in enumerate(batch)]
        for _attempt in range(2):
            reply = aws.client("sqs").send_message_batch(QueueUrl=self.url, Entries=entries)
            failed = {f["Id"] for f in reply.get("Failed", [])}
            entries = [e for e in entries if e["Id"] in failed]
            if not entries:
                return
        raise ServiceUnavailable(f"{len(entries)} job messages could not be queued.")
