"""moto's server, with SQS's approximate message counts computed at most once a second per queue.

moto 5 recomputes every queue attribute, including the three `ApproximateNumberOf*` counts, each of
which walks the whole queue, on every `SendMessage`, so each SNS fan-out costs time in proportion to the
depth of the queue it lands in: with a few thousand messages waiting, the emulator spent most of its CPU
counting them and a backlog grew quadratically slower to clear (docs/adr/0017-outbox-relay.md). SQS's
counts are approximate in AWS too (AWS documents them as eventually consistent, about a minute), so
reading them a second stale keeps the behaviour a client may rely on. Nothing else is changed.
"""

import sys
import time

from moto.server import main
from moto.sqs.models import Queue

FRESH_FOR_SECONDS = 1.0


def _cached(name: str) -> property:
    count = getattr(Queue, name).fget

    def get(self: Queue) -> int:
        cache = self.__dict__.setdefault("_orderly_counts", {})
        now = time.monotonic()
        hit = cache.get(name)
        if hit is not None and now - hit[0] < FRESH_FOR_SECONDS:
            return hit[1]
        value = count(self)
        cache[name] = (now, value)
        return value

    return property(get)


for _name in (
    "approximate_number_of_messages",
    "approximate_number_of_messages_not_visible",
    "approximate_number_of_messages_delayed",
):
    setattr(Queue, _name, _cached(_name))

if __name__ == "__main__":
    sys.exit(main())
