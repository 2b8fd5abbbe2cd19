"""Evaluate items against deployments: bounded concurrency on a thread pool, adaptive back-off on
throttling, bounded retries of transient faults, a write-through answer cache. One item's failure
becomes an `error` answer, never an exception. Files and progress are the caller's business."""

from __future__ import annotations

import queue
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

from chalicelib.config.registry import Deployment
from chalicelib.errors import TunegateError
from chalicelib.evaluation.answers import Answer, ItemResult
from chalicelib.evaluation.cache import AnswerCache, CachedAnswer, cache_key, cacheable
from chalicelib.evaluation.datasets import Item
from chalicelib.evaluation.judge import Judgement
from chalicelib.evaluation.judge_run import CallOutcome, Judge
from chalicelib.evaluation.pacing import DEFAULT_CONCURRENCY, AdaptiveLimit
from chalicelib.evaluation.samples import DEFAULT_SAMPLES
from chalicelib.evaluation.scoring import read_reference, score
from chalicelib.evaluation.totals import EvaluationTotals
from chalicelib.formats import Completion, InferenceParams, Prompt
from chalicelib.providers import complete
from chalicelib.providers.retries import EVALUATION, ONE_ATTEMPT, RetryPolicy, error_code
from chalicelib.serving.prompting import render_prompt, resolve_params

CallModel = Callable[[Deployment, Prompt, InferenceParams], Completion]
ORDER_AHEAD = 8  # run(ordered=True): finished results held behind the first, in windows


def call_once(deployment: Deployment, prompt: Prompt, params: InferenceParams) -> Completion:
    """One provider attempt: the runner is the retry layer (it must see every throttle)."""
    return complete(deployment, prompt, params, ONE_ATTEMPT)


@dataclass(frozen=True, slots=True)
class _Failure:
    code: str
    latency_ms: float | None
    attempts: int


def prompt_for(deployment: Deployment, item: Item) -> Prompt:
    """The item as this deployment was tuned to read it (template, separator, system)."""
    if isinstance(item.input, str):
        return render_prompt(deployment.prompt, input_text=item.input, system=item.system)
    return render_prompt(deployment.prompt, messages=item.input, system=item.system)


class Evaluator:
    """Evaluates items against `deployments` (every item by every deployment, in order).

    `limit` caps concurrent model calls and adapts to throttling; share one between evaluators
    to cap a whole job. `cache` (optional) is consulted before and written after each call.
    `policy` is how often each failure is retried here (providers/retries.py), by `call` making
    one attempt each time.
    """

    def __init__(
        self,
        deployments: Sequence[Deployment],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        cache: AnswerCache | None = None,
        limit: AdaptiveLimit | None = None,
        policy: RetryPolicy | None = None,
        call: CallModel = call_once,
        rng: random.Random | None = None,
        judge: Judge | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.deployments = list(deployments)
        self.concurrency = concurrency
        self.limit = limit or AdaptiveLimit(concurrency)
        self.policy = policy or EVALUATION
        self._params = [resolve_params(d.inference) for d in self.deployments]
        self._cache = cache
        self._call = call
        self._rng = rng or random.Random()
        self.judge = judge
        self._stop = threading.Event()
        self._count_lock = threading.Lock()
        self.model_calls = 0  # every attempt, by this evaluator (judge calls included)

    def stop(self) -> None:
        """Ask running calls to give up at their next attempt (Ctrl-C, job cancelled)."""
        self._stop.set()

    def evaluate_item(self, item: Item) -> ItemResult:
        """Every deployment's answer to one item, then the judge's verdicts on them (when the
        run has a judge); safe to call from many threads."""
        answers = tuple(
            self._answer(item, deployment, params)
            for deployment, params in zip(self.deployments, self._params, strict=True)
        )
        return ItemResult(item, answers, self.judge_item(item, answers))

    def judge_item(self, item: Item, answers: Sequence[Answer]) -> tuple[Judgement, ...]:
        """The judge's verdicts on these answers, its calls made as model calls are."""
        judge = self.judge
        if judge is None:
            return ()
        deployment, params = judge.plan.deployment, judge.params
        return judge.judge(item, answers, lambda prompt: self.call(deployment, prompt, params))

    def call(self, deployment: Deployment, prompt: Prompt, params: InferenceParams) -> CallOutcome:
        """One prompt through the cache, then the concurrency limit and the retries."""
        key = None
        if self._cache is not None and cacheable(params):
            key = cache_key(deployment, prompt, params)
            hit = self._cache.get(key)
            if hit is not None:
                return CallOutcome(hit, attempts=0, cached=True)
        outcome = self._call_with_retries(deployment, prompt, params)
        if isinstance(outcome, _Failure):
            return CallOutcome(None, outcome.attempts, False, outcome.code, outcome.latency_ms)
        completion, latency_ms, attempts = outcome
        answer = CachedAnswer(
            completion.text, completion.input_tokens or 0, completion.output_tokens or 0, latency_ms
        )
        if key is not None and self._cache is not None:
            self._cache.put(key, answer)
        return CallOutcome(answer, attempts=attempts, cached=False)

    def run(
        self, items: Iterable[Item], window: int | None = None, *, ordered: bool = False
    ) -> Iterator[ItemResult]:
        """Results as they complete (not in input order), with at most `window` items in flight
        (default 2 x concurrency), so memory does not grow with the dataset. `ordered`: results
        in input order instead (files that must not depend on timing), holding at most
        ORDER_AHEAD windows of finished results behind a slow first one."""
        window = window or 2 * self.concurrency
        ahead = ORDER_AHEAD * window if ordered else 0
        self._stop.clear()
        done: queue.Queue[Future[ItemResult]] = queue.Queue()
        held: deque[Future[ItemResult]] = deque()  # ordered: submitted, not yet yielded
        in_flight = 0
        finished = False
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="evaluate") as pool:
            try:
                for item in items:
                    while True:
                        while held and held[0].done():
                            yield held.popleft().result()
                        if in_flight < window and len(held) < max(ahead, 1):
                            break
                        in_flight -= 1
                        completed = done.get()
                        if not ordered:
                            yield completed.result()
                    future = pool.submit(self.evaluate_item, item)
                    future.add_done_callback(done.put)
                    in_flight += 1
                    if ordered:
                        held.append(future)
                while in_flight:
                    in_flight -= 1
                    completed = done.get()
                    if not ordered:
                        yield completed.result()
                    while held and held[0].done():
                        yield held.popleft().result()
                while held:
                    yield held.popleft().result()
                finished = True
            finally:
                if not finished:  # interrupted or closed early: let workers wind down quickly
                    self._stop.set()
                    pool.shutdown(wait=False, cancel_futures=True)

    def _answer(self, item: Item, deployment: Deployment, params: InferenceParams) -> Answer:
        reference = read_reference(deployment.output, item.reference)
        base = Answer(deployment.name, "error", reference)
        try:
            prompt = prompt_for(deployment, item)
        except TunegateError as error:
            return replace(base, error_code=error.code)
        outcome = self.call(deployment, prompt, params)
        if outcome.answer is None:
            return replace(
                base,
                error_code=outcome.error_code,
                latency_ms=outcome.latency_ms,
                attempts=outcome.attempts,
            )
        return _scored(
            base, deployment, item, outcome.answer, attempts=outcome.attempts, cached=outcome.cached
        )

    def _call_with_retries(
        self, deployment: Deployment, prompt: Prompt, params: InferenceParams
    ) -> tuple[Completion, float, int] | _Failure:
        failures: Counter[str] = Counter()
        attempts = 0
        latency_ms: float | None = None
        while True:
            if self._stop.is_set():
                return _Failure("cancelled", latency_ms, attempts)
            self.limit.acquire()
            attempts += 1
            with self._count_lock:
                self.model_calls += 1
            started = time.perf_counter()
            try:
                completion = self._call(deployment, prompt, params)
            except Exception as error:  # TunegateError, or a bug / unmapped library error
                latency_ms = _elapsed_ms(started)
                code = error_code(error)
                self.limit.release(throttled=code == "throttled")
                failures[code] += 1
                if not self.policy.should_retry(error, failures[code]):
                    return _Failure(code, latency_ms, attempts)
                self._stop.wait(self.policy.delay(code, failures[code], self._rng))
                continue
            latency_ms = _elapsed_ms(started)
            self.limit.release()
            return completion, latency_ms, attempts


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _scored(
    base: Answer,
    deployment: Deployment,
    item: Item,
    answer: CachedAnswer,
    *,
    attempts: int,
    cached: bool,
) -> Answer:
    scored = score(deployment.output, item.reference, answer.text)
    return replace(
        base,
        status=scored.status,
        output=answer.text,
        prediction=scored.prediction,
        key=scored.key,
        value=scored.value,
        latency_ms=answer.latency_ms,
        input_tokens=answer.input_tokens,
        output_tokens=answer.output_tokens,
        attempts=attempts,
        cached=cached,
    )


@dataclass(frozen=True, slots=True)
class ChunkOutcome:
    """A chunk's per-item results (for storage) and its mergeable totals (metrics states,
    comparison state, sample candidates)."""

    results: list[ItemResult]
    totals: EvaluationTotals


def evaluate_chunk(
    items: Iterable[Item],
    deployments: Sequence[Deployment],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    cache: AnswerCache | None = None,
    limit: AdaptiveLimit | None = None,
    policy: RetryPolicy | None = None,
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    judge: Judge | None = None,
) -> ChunkOutcome:
    """Evaluate one chunk of items end to end (each item judged after its answers, when the
    run has a judge); the results come back in item order."""
    evaluator = Evaluator(
        deployments, concurrency=concurrency, cache=cache, limit=limit, policy=policy, judge=judge
    )
    totals = EvaluationTotals(
        [d.name for d in deployments], samples=samples, seed=seed, judged=judge is not None
    )
    results = []
    for result in evaluator.run(items):
        totals.add(result)
        results.append(result)
    results.sort(key=lambda r: r.item.index)
    return ChunkOutcome(results, totals)
