"""The shared rate limiter keeps many threads together under the account's ceiling."""

import threading
import time

from revenue_assets.stripe_api.ratelimit import RateLimiter


def test_many_threads_share_one_ceiling() -> None:
    limiter = RateLimiter(200.0)
    sent: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            limiter.acquire()
            with lock:
                sent.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(16)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    assert len(sent) == 400
    # 400 requests at 200/s cannot take much less than two seconds, whatever the threads do.
    assert elapsed >= 1.9
    sent.sort()
    busiest = max(sum(1 for t in sent if s <= t < s + 0.5) for s in sent)
    assert busiest <= 200 * 0.5 + limiter.capacity + 1


def test_pause_holds_everyone() -> None:
    limiter = RateLimiter(1000.0)
    limiter.pause(0.3)
    started = time.monotonic()
    limiter.acquire()
    assert time.monotonic() - started >= 0.28
