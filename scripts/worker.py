"""The local evaluation worker: `chalice local` runs no event sources, so this polls the local SQS
queue and calls the deployed Lambda's own entry point (`app.evaluation_worker`) with an
SQS-shaped event, deleting only the messages the handler did not report in `batchItemFailures`.

`make run` starts it; tests use `LocalWorker` in-process or run this file as a subprocess.
  python scripts/worker.py [--processes N] [--batch-size N] [--visibility-timeout S]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from chalicelib.config.settings import Settings

Handler = Callable[[dict[str, Any], Any], Any]


class LocalWorker:
    """Receives from the queue and invokes `handler(event, context)` like the Lambda service:
    `slots` concurrent pollers (Lambda's concurrency), `batch_size` messages per event."""

    def __init__(
        self,
        handler: Handler,
        queue_name: str,
        *,
        slots: int = 1,
        batch_size: int = 1,
        wait_seconds: int = 1,
        visibility_timeout: int | None = None,
        redeliver: bool = False,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.handler = handler
        self.slots = slots
        self.batch_size = batch_size
        self.wait_seconds = wait_seconds
        self.visibility_timeout = visibility_timeout
        #: Tests: every message is handled, made visible again at once and handled a second
        #: time (a real SQS redelivery) before it is deleted.
        self.redeliver = redeliver
        self.sqs = boto3.client("sqs", config=Config(read_timeout=wait_seconds + 20))
        self.queue_url: str = self.sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn", "VisibilityTimeout"]
        )["Attributes"]
        self.queue_arn: str = attributes["QueueArn"]
        self.queue_visibility_timeout = int(attributes.get("VisibilityTimeout", 30))
        self.region = self.sqs.meta.region_name
        self.handled = 0
        self._lock = threading.Lock()

    def poll_once(self, wait_seconds: int | None = None) -> int:
        """One receive and one handler call; the number of messages handled."""
        request: dict[str, Any] = {
            "QueueUrl": self.queue_url,
            "MaxNumberOfMessages": self.batch_size,
            "WaitTimeSeconds": self.wait_seconds if wait_seconds is None else wait_seconds,
            "AttributeNames": ["All"],
            "MessageAttributeNames": ["All"],
        }
        if self.visibility_timeout is not None:
            request["VisibilityTimeout"] = self.visibility_timeout
        messages = self.sqs.receive_message(**request).get("Messages", [])
        if not messages:
            return 0
        event = {"Records": [self._record(m) for m in messages]}
        try:
            with self._kept_hidden(messages):
                response = self.handler(event, None) or {}
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        except Exception as exc:  # the whole batch failed: SQS redelivers every message
            print(f"worker: batch failed: {exc!r}", file=sys.stderr, flush=True)
            failed = {m["MessageId"] for m in messages}
        for message in messages:
            if message["MessageId"] in failed:
                continue
            receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            if self.redeliver and receives < 2:
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=0,
                )
            else:
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        with self._lock:
            self.handled += len(messages)
        return len(messages)

    @contextlib.contextmanager
    def _kept_hidden(self, messages: list[dict[str, Any]]) -> Iterator[None]:
        """Extend the messages' visibility while the handler runs. The local queue's timeout
        is short (a killed worker's chunk comes back within it, not after the deployed 15
        minutes), so a chunk that takes longer must not be handed to a second worker."""
        seconds = self.visibility_timeout
        if seconds is None:
            seconds = self.queue_visibility_timeout
        done = threading.Event()
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": seconds}
            for i, m in enumerate(messages)
        ]

        def extend() -> None:
            while not done.wait(seconds / 3):
                with contextlib.suppress(Exception):  # best effort: redelivery is safe
                    self.sqs.change_message_visibility_batch(
                        QueueUrl=self.queue_url, Entries=entries
                    )

        thread = threading.Thread(target=extend, name="visibility", daemon=True)
        if seconds > 0:
            thread.start()
        try:
            yield
        finally:
            done.set()
            if thread.is_alive():
                thread.join()

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.region,
        }

    def run_until(self, done: Callable[[], bool], timeout: float = 60.0) -> None:
        """Poll with `slots` threads (this one included) until `done()`, checked between
        polls; TimeoutError after `timeout` seconds. A handler's exception propagates."""
        deadline = time.monotonic() + timeout
        stop = threading.Event()
        errors: list[BaseException] = []

        def loop() -> None:
            try:
                while not stop.is_set() and not done():
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"the worker did not finish within {timeout} s")
                    self.poll_once(wait_seconds=1)
            except BaseException as exc:
                errors.append(exc)
            finally:
                stop.set()

        helpers = [threading.Thread(target=loop, daemon=True) for _ in range(self.slots - 1)]
        for thread in helpers:
            thread.start()
        loop()
        for thread in helpers:
            thread.join()
        if errors:
            raise errors[0]

    def serve(self, stop: threading.Event) -> None:
        """`slots` pollers until `stop` is set. They are daemon threads: a handler still running
        then dies with the process, like a Lambda at its timeout (its message comes back)."""

        def loop() -> None:
            while not stop.is_set():
                try:
                    self.poll_once()
                except Exception as exc:  # keep serving: SQS or the handler had a bad moment
                    print(f"worker: {exc!r}", file=sys.stderr, flush=True)
                    stop.wait(1)

        threads = [
            threading.Thread(target=loop, name=f"worker-{i}", daemon=True)
            for i in range(self.slots)
        ]
        for thread in threads:
            thread.start()
        while not stop.wait(0.5):
            pass


def lambda_handler() -> Handler:
    """The deployed worker's entry point: importing `app` builds the same runtime."""
    import app

    handler: Handler = app.evaluation_worker
    return handler


def install_stage_settings(stage: str) -> Settings:
    """The worker process's settings: the stage's variables under the process environment,
    passed down (installed), not exported. The runner is the retry layer whatever
    MODEL_MAX_ATTEMPTS says (chalicelib/providers/retries.py)."""
    from chalicelib.config.settings import install_settings
    from chalicelib.config.stages import stage_process_environment

    environment = stage_process_environment(stage)  # variables already set win
    return install_settings(environment)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="local")
    parser.add_argument(
        "--processes",
        type=int,
        default=4,
        help="concurrent invocations, each in its own process like a Lambda sandbox (default 4)",
    )
    parser.add_argument("--slots", type=int, default=1, help="polling threads per process")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--wait-seconds", type=int, default=10, help="long-polling wait")
    parser.add_argument(
        "--visibility-timeout",
        type=int,
        default=None,
        help="seconds a received message stays hidden, extended while it is handled "
        "(default: the queue's own, EVALUATION_QUEUE_VISIBILITY_SECONDS at bootstrap)",
    )
    parser.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    stop = threading.Event()

    def on_signal(_number: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if args.processes > 1:
        return _supervise(args, stop)
    if args.parent_pid is not None:
        _stop_with_parent(args.parent_pid, stop)
    settings = install_stage_settings(args.stage)
    worker = LocalWorker(
        lambda_handler(),  # the app, built with the settings installed above
        settings.evaluation_queue,
        slots=args.slots,
        batch_size=args.batch_size,
        wait_seconds=args.wait_seconds,
        visibility_timeout=args.visibility_timeout,
    )
    print(f"worker {os.getpid()}: polling {worker.queue_url}", flush=True)
    worker.serve(stop)
    return 0


def _supervise(args: argparse.Namespace, stop: threading.Event) -> int:
    """One child process per concurrent invocation (threads would share one GIL: a poor model
    of separate Lambda sandboxes). A child that dies is started again, as the Lambda service
    would start a new sandbox (its message comes back after the visibility timeout); a signal
    stops them all, and each child stops by itself if this process dies."""
    from devstack.supervisor import Supervisor, log_to_stderr

    command = [sys.executable, str(Path(__file__).resolve()), "--stage", args.stage]
    command += ["--processes", "1"]
    command += ["--slots", str(args.slots), "--batch-size", str(args.batch_size)]
    command += ["--wait-seconds", str(args.wait_seconds), "--parent-pid", str(os.getpid())]
    if args.visibility_timeout is not None:
        command += ["--visibility-timeout", str(args.visibility_timeout)]
    supervisor = Supervisor(cwd=Path.cwd(), log=log_to_stderr("worker"), own_process_groups=False)
    try:
        for number in range(args.processes):
            supervisor.start(f"worker process {number + 1}", command)
        supervisor.wait(stop.wait)
        return 0
    finally:
        supervisor.stop(signal.SIGTERM)


def _stop_with_parent(parent_pid: int, stop: threading.Event) -> None:
    """A supervised child must not outlive its supervisor (a `kill -9` of it would leave
    orphans polling next to the replacement's children)."""

    def watch() -> None:
        while not stop.wait(1):
            if os.getppid() != parent_pid:
                stop.set()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
