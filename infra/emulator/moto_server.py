"""moto's server, with SQS's queue bookkeeping made proportional to what a call touches.

moto 5 walks the whole queue in three places that every message passes through, so each call costs time
in proportion to the queue's depth and a backlog clears quadratically slower the deeper it is (issues 12
and 13; docs/adr/0017-outbox-relay.md):

- every `SendMessage` (and every message a receive returns) recomputes every queue attribute,
  including the three `ApproximateNumberOf*` counts, each a walk of the queue. They are cached here per
  queue, for a second or twenty times as long as the count took to make, whichever is longer, and only
  one request recounts at a time: SQS's counts are approximate in AWS too (documented as eventually
  consistent, about a minute);
- every `ReceiveMessage` first builds the list of all visible messages, to take ten. Here the visible
  messages are a view that yields them lazily, so a receive stops after what it takes (in-flight
  messages, at the front, are still stepped over);
- every message a receive returns was checked against the retention period by building every queue
  attribute, counts included, to read that one. Here it reads that one;
- every `DeleteMessage` scanned the whole queue for the receipt handle, then rebuilt the list in Python.
  Here it stops at the message (received messages are near the front) and copies the list once.

What a client sees is unchanged: the same messages, in the same order, with the same visibility,
redrive and errors.
"""

import logging
import sys
import time

from moto.core.utils import unix_time
from moto.server import main
from moto.sqs.exceptions import ReceiptHandleIsInvalid
from moto.sqs.models import Queue, SQSBackend

# One log line per request, written under a lock every request thread waits on, was a sixth of the
# emulator's time under the benchmarks' load; errors are still logged.
logging.getLogger("werkzeug").setLevel(logging.WARNING)

FRESH_FOR_SECONDS = 1.0
# A count that took T seconds to make is reused for at least COST_FACTOR * T: however deep the queue,
# counting takes at most about 1/COST_FACTOR of the emulator's time. At a depth of 9,000 one count took
# about a tenth of a second, so with several deep queues a recount every second was most of a core.
COST_FACTOR = 20


def _cached(name: str) -> property:
    count = getattr(Queue, name).fget
    counting = name + ":counting"

    def get(self: Queue) -> int:
        cache = self.__dict__.setdefault("_orderly_counts", {})
        hit = cache.get(name)
        if hit is not None:
            made_at, value, fresh_for = hit
            # While one request recounts, the others answer with the last count instead of each
            # starting the same walk (under the GIL they would all finish late together).
            if time.monotonic() - made_at < fresh_for or cache.get(counting):
                return value
        cache[counting] = True
        try:
            started = time.monotonic()
            value = count(self)
            took = time.monotonic() - started
        finally:
            cache.pop(counting, None)
        cache[name] = (time.monotonic(), value, max(FRESH_FOR_SECONDS, COST_FACTOR * took))
        return value

    return property(get)


for _name in (
    "approximate_number_of_messages",
    "approximate_number_of_messages_not_visible",
    "approximate_number_of_messages_delayed",
):
    setattr(Queue, _name, _cached(_name))


class _Visible:
    """The queue's visible, undelayed messages, in order, computed as they are iterated."""

    def __init__(self, queue: Queue) -> None:
        self._queue = queue

    def _each(self):
        # A copy of the list (a C-speed copy of references): receive moves messages to the DLQ while
        # it iterates.
        for message in list(self._queue._messages):
            if message.visible and not message.delayed:
                yield message

    def __iter__(self):
        return self._each()

    def __bool__(self) -> bool:
        return next(self._each(), None) is not None

    def __len__(self) -> int:
        return sum(1 for _ in self._each())


Queue.messages = property(_Visible)


def _delete_message(self: Queue, receipt_handle: str) -> None:
    if receipt_handle in self.deleted_messages:
        # Already deleted: SQS accepts deleting it again.
        return
    # Under the lock `add_message` takes, so a message sent meanwhile is not lost; the list is replaced,
    # not edited, because other requests' threads iterate it without that lock.
    with self._messages_lock:
        messages = self._messages
        for index, message in enumerate(messages):
            if message.had_receipt_handle(receipt_handle):
                self.pending_messages.discard(message)
                self.deleted_messages.update(message.all_receipt_handles)
                self._messages = messages[:index] + messages[index + 1 :]
                return
    raise ReceiptHandleIsInvalid()


Queue.delete_message = _delete_message


def _within_retention(self: SQSBackend, queue_name: str, message) -> bool:
    # moto read the one attribute through all of them (every count included), once per message received.
    retention_period = self.get_queue(queue_name).message_retention_period
    return retention_period + message.sent_timestamp / 1000 > unix_time()


SQSBackend.is_message_valid_based_on_retention_period = _within_retention

if __name__ == "__main__":
    sys.exit(main())
