"""Dynamic batching for a server: the digits of concurrent requests go through the model in one call.

One model call on 30 digits costs little more than a call on one, so a server that answers many
clients at once gathers what is waiting into one call. The wait is bounded and happens only when
it can pay: while other requests are still being prepared (decoded, cut into digits), the batch
waits for them up to `max_wait` seconds; a request that arrives alone goes straight to the model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np

Classify = Callable[[list[np.ndarray]], np.ndarray]


class Batcher:
    """`await batcher.classify(images)` -> probabilities (n, 10), from a shared model call.

    With `enabled=False` every request calls the model itself, in its own thread (the plain way,
    kept for comparison). The model always runs outside the event loop.
    """

    def __init__(self, classify: Classify, enabled: bool = True, max_batch: int = 256,
                 max_wait: float = 0.005):
        self._classify = classify
        self.enabled, self.max_batch, self.max_wait = enabled, max_batch, max_wait
        # One model call at a time: TensorFlow spreads each call over every core itself.
        self._model_thread = ThreadPoolExecutor(1, thread_name_prefix="digits-model")
        self._unbatched = ThreadPoolExecutor(8, thread_name_prefix="digits-model-unbatched")
        self._queue: list[tuple[list[np.ndarray], asyncio.Future]] = []
        self._preparing = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self.calls = 0  # model calls made, for tests and the health route

    @contextmanager
    def preparing(self):
        """Wrap a request's preparation: a batch being gathered waits for it (bounded)."""
        self._preparing += 1
        try:
            yield
        finally:
            self._preparing -= 1
            if self._wakeup is not None:
                self._wakeup.set()

    async def classify(self, images: list[np.ndarray]) -> np.ndarray:
        if not images:
            return np.zeros((0, 10), np.float32)
        loop = asyncio.get_running_loop()
        if not self.enabled:
            self.calls += 1
            return await loop.run_in_executor(self._unbatched, self._classify, images)
        self._start(loop)
        future = loop.create_future()
        self._queue.append((images, future))
        self._wakeup.set()
        return await future

    def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
        self._model_thread.shutdown(wait=False, cancel_futures=True)
        self._unbatched.shutdown(wait=False, cancel_futures=True)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        """The gathering task lives in the serving event loop (a new loop, e.g. a new test
        client, gets a new task)."""
        if self._loop is loop and self._worker is not None and not self._worker.done():
            return
        self._loop, self._wakeup, self._queue = loop, asyncio.Event(), []
        self._worker = loop.create_task(self._gather_and_run())

    async def _gather_and_run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if not self._queue:
                continue
            await self._wait_for_stragglers()
            taken = self._take()
            images = [image for request_images, _ in taken for image in request_images]
            try:
                self.calls += 1
                probabilities = await self._loop.run_in_executor(self._model_thread,
                                                                 self._classify, images)
            except Exception as error:  # the model failed: every waiting request learns why
                for _, future in taken:
                    if not future.done():
                        future.set_exception(error)
            else:
                start = 0
                for request_images, future in taken:
                    if not future.done():  # a client that went away cancelled its future
                        future.set_result(probabilities[start:start + len(request_images)])
                    start += len(request_images)
            if self._queue:
                self._wakeup.set()

    async def _wait_for_stragglers(self) -> None:
        deadline = self._loop.time() + self.max_wait
        while self._preparing and self._queued_images() < self.max_batch:
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except asyncio.TimeoutError:  # TimeoutError itself from Python 3.11
                return

    def _queued_images(self) -> int:
        return sum(len(images) for images, _ in self._queue)

    def _take(self) -> list[tuple[list[np.ndarray], asyncio.Future]]:
        """The queued requests up to max_batch images (always at least one request)."""
        taken, count = [], 0
        while self._queue and (not taken or count + len(self._queue[0][0]) <= self.max_batch):
            count += len(self._queue[0][0])
            taken.append(self._queue.pop(0))
        return taken
