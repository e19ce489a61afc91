"""moto's server, with SQS's queue bookkeeping made proportional to what a call touches.

moto 5 walks the whole queue in several places that every message passes through, so each call costs
time in proportion to the queue's depth and a backlog clears quadratically slower the deeper it is, and
it spends time on every request that has nothing to do with SQS (issues 12 and 13;
docs/adr/0017-outbox-relay.md):

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
  Here the handle names its message (remembered when it is received), which is found by identity and
  taken out of the list in place;
- each receipt handle was 185 separate random choices. Here it is random bytes in hex, as long;
- every `SendMessage` (each SNS delivery to a queue is one) built every queue attribute, the counts
  included, to read `ContentBasedDeduplication`. Here a queue's attributes are computed as they are read;
- "now", read for every message a receive or a count steps over, went through two aware datetimes and an
  import each time. Here it is the clock's seconds (the same value);
- which service a request is for was worked out again for every request, reading moto's package
  directory each time. Here it is remembered per host, which is all it depends on;
- a form-encoded request (SNS's protocol) is percent-decoded by Python's `unquote_to_bytes`, a loop in
  Python over every `%XX`, and twice (the web layer and moto each parse the body): 3.6 ms for each
  112 KB `notification.sent` of a broadcast page, about as much as the rest of its publish, delivery,
  receive and delete together. Here the decoding is done by the interpreter's C escape decoder (0.4 ms),
  falling back to the original for anything that is not a well-formed escape.

- werkzeug's development server closed every connection after one response, so every AWS call opened a
  TCP connection and started a thread. A request whose length is declared is now read whole before
  the application runs, and its connection is kept (docs/adr/0029-emulator-keeps-connections.md).

- while the pipeline drained, every backend lookup took moto's global lock, a receive's answer went
  through the generic shape serializer, each request listed its response class's actions with `inspect`
  and each published event was matched against every filter policy afresh. Here a known account needs
  no lock, a receive over the JSON protocol is written directly, the actions are listed once, and a
  subscription remembers its answer per value of the attributes its policy names. A `PublishBatch`
  form was parsed twice, the second time by walking botocore's model for every field; here its fields
  map to the parameters directly (docs/adr/0030-emulator-cost-per-delivered-event.md).

- while the relay published, every delivery asked the queue for `ContentBasedDeduplication` through
  `Mapping.get`, which on a standard queue raised and caught a `KeyError`, and every `PublishBatch` answer
  went through the generic serializer. Here a missing attribute is answered without an exception and the
  relay's answer is written directly (docs/adr/0030-emulator-cost-per-delivered-event.md, "Later").

- moto's receive ran unguarded on every request thread: with several pollers on a queue, two receives
  could hand out the same message, and one could fail (a 500) after marking messages in flight that no
  one then held until their visibility timeout. Here a queue's receives, deletes and visibility changes
  take turns (docs/adr/0030-emulator-cost-per-delivered-event.md, "Later still").

- every SQS message, and every copy a receive returned, was kept for moto's dashboard for the life of
  the process. Here a deleted message is freed (same ADR).

- every message a receive returned was deep-copied, every nested attribute with it, to filter the
  copy's attributes. Here the copy shares what moto never changes in place (same ADR).

- every request's headers were handed to the email package's feed parser (about 90 µs for an SDK's
  eleven); here headers of one line each are taken directly, the rest still by that parser (same ADR).

- a consumer's `ReceiveMessage` and `DeleteMessageBatch`, and the relay's `PublishBatch`, went through
  Flask, werkzeug's request and moto's request setup (about three quarters of a consumer's batch). Here
  those actions, when plain, run moto's own action without those layers (same ADR, "Last"). Every
  answer's body was searched for `<RequestId>` by a regular expression; here only a body that has it.

What a client sees is unchanged: the same messages, in the same order, with the same visibility,
redrive and errors.

One limit AWS enforces and moto does not is added, so that a local run fails where AWS would: SNS refuses
a `PublishBatch` whose messages, bodies and attributes together, are over 256 KiB (the topic's default
`MaximumMessageSize`) with `BatchRequestTooLong`, however few entries it has.
"""

import codecs
import email.parser
import functools
import http.client
import io
import json
import logging
import os
import re
import selectors
import sys
import threading
import time
import urllib.parse
import weakref
from collections.abc import Mapping
from xml.sax.saxutils import escape as xml_escape

import moto.core.utils
import moto.settings
from moto.core.utils import camelcase_to_underscores


def _fast_clock(slow, scale):
    # moto's `unix_time()` is `utcnow() - utcfromtimestamp(0)` in seconds (and `unix_time_millis()` the
    # same in milliseconds), which is what time.time() is; given a datetime it still converts that one.
    @functools.wraps(slow)
    def now(dt=None):
        if dt is None:
            return time.time() * scale
        return slow(dt)

    return now


# Before the backends import them by name, so every module that does gets the fast ones.
_unix_time = moto.core.utils.unix_time = _fast_clock(moto.core.utils.unix_time, 1.0)
_unix_time_millis = moto.core.utils.unix_time_millis = _fast_clock(
    moto.core.utils.unix_time_millis, 1000.0
)

import moto.sqs.models  # noqa: E402  (after the clock is replaced)
import moto.core.responses  # noqa: E402
from moto.core.base_backend import BackendDict  # noqa: E402
import moto.server  # noqa: E402
import werkzeug.serving  # noqa: E402
import werkzeug.wrappers  # noqa: E402
from werkzeug.datastructures import MultiDict  # noqa: E402
from moto.core.authorization import ActionAuthenticatorMixin  # noqa: E402
from moto.core.responses import BaseResponse  # noqa: E402
from moto.iam.models import mark_account_as_visited  # noqa: E402
from moto.moto_api import recorder  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DISABLE_GLOBAL_CORS,
    BackendRequest,
    DomainDispatcherApplication,
    MotoRequestHandler,
)
from moto.utilities.utils import get_partition  # noqa: E402
from moto.server import main  # noqa: E402
from moto.sqs.exceptions import ReceiptHandleIsInvalid  # noqa: E402
from moto.sqs.models import Message, Queue, SQSBackend  # noqa: E402
from moto.sqs.responses import SQSResponse  # noqa: E402
from moto.core.utils import get_service_model  # noqa: E402
from moto.sns.exceptions import SNSException  # noqa: E402
from moto.sns.models import MAXIMUM_MESSAGE_LENGTH, SNSBackend  # noqa: E402
from moto.sns.utils import FilterPolicyMatcher  # noqa: E402
from moto.sns.responses import SNSResponse  # noqa: E402

for _module in list(sys.modules.values()):
    # Anything imported before the clock was replaced (moto.core imports some of its own modules).
    if getattr(_module, "__name__", "").startswith("moto.") and _module is not moto.core.utils:
        if getattr(_module, "unix_time", None) is _unix_time.__wrapped__:
            _module.unix_time = _unix_time
        if getattr(_module, "unix_time_millis", None) is _unix_time_millis.__wrapped__:
            _module.unix_time_millis = _unix_time_millis

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


# Which message each receipt handle was given to (weakly: a deleted message goes with its entry).
_by_receipt_handle: "weakref.WeakValueDictionary[str, Message]" = weakref.WeakValueDictionary()
_mark_received = Message.mark_received


def _remember_receipt_handle(self: Message, *args, **kwargs) -> None:
    _mark_received(self, *args, **kwargs)
    _by_receipt_handle[self.receipt_handle] = self


Message.mark_received = _remember_receipt_handle


def _untracked(cls, *args, **kwargs):
    """moto's models append every instance to a class-wide list, for its dashboard (`/moto-api/`,
    which nothing here uses). For SQS messages that list kept every message ever sent, and the copy of
    it every receive returns, for the life of the process (120,000 objects after 60,000 messages went
    through a queue), and every full garbage collection walked them all. A message is now freed once
    it is deleted and answered (the figures are in ADR 0030)."""
    return object.__new__(cls)


Message.__new__ = staticmethod(_untracked)
_deepcopy = moto.sqs.models.deepcopy


def _receive_copy(value, memo=None):
    """What moto's receive copies each message it returns with, so that filtering the copy's message
    attributes leaves the queue's message whole. A deep copy walked every nested attribute (about 40
    objects a message; a fifth of an in-process receive's time); moto changes none of them in place
    (the filter replaces the copy's attribute map, and the queue's message only has fields set), so the
    copy shares them and gets its own receipt handle list. Anything else is still deep-copied."""
    if type(value) is not Message:
        return _deepcopy(value, memo)
    snapshot = Message.__new__(Message)  # tracked or not as any message is
    snapshot.__dict__.update(value.__dict__)
    snapshot._old_receipt_handles = list(value._old_receipt_handles)
    return snapshot


moto.sqs.models.deepcopy = _receive_copy


_locks_guard = threading.Lock()


def _in_flight_lock(queue: Queue) -> threading.RLock:
    """The lock under which a message of `queue` goes in flight or comes back: one per queue, made on
    first use. Re-entrant: a process that loads this module twice (a bench or a test next to the
    server's own copy) wraps moto's receive twice, and both wrappers take this lock."""
    lock = queue.__dict__.get("_in_flight_lock")
    if lock is None:
        with _locks_guard:
            lock = queue.__dict__.setdefault("_in_flight_lock", threading.RLock())
    return lock


_receive_message = SQSBackend.receive_message


def _receive_one_at_a_time(self: SQSBackend, queue_name, count, wait_seconds_timeout, visibility_timeout,
                           message_attribute_names=None):
    """moto's receive, one at a time per queue. The server runs each request on its own thread, and
    moto's receive checks that a message is visible, then marks it received, without a lock: two
    receives interleaved there handed out the same message, and one iterating the in-flight set while
    another changed it failed with a 500 (`Set changed size during iteration`, twice a pipeline bench
    run). Long polling waits outside the lock, as moto's own loop does, and tries again when
    messages arrive."""
    queue = self.get_queue(queue_name)
    deadline = time.time() + wait_seconds_timeout
    while True:
        with _in_flight_lock(queue):
            result = _receive_message(self, queue_name, count, 0, visibility_timeout, message_attribute_names)
        remaining = deadline - time.time()
        if result or remaining <= 0:
            return result
        queue.wait_for_messages(min(1, remaining))


SQSBackend.receive_message = _receive_one_at_a_time
_change_message_visibility = SQSBackend.change_message_visibility


def _change_visibility_in_turn(self: SQSBackend, queue_name, receipt_handle, visibility_timeout) -> None:
    # Takes a message that is visible again out of the in-flight set a receive iterates.
    with _in_flight_lock(self.get_queue(queue_name)):
        _change_message_visibility(self, queue_name, receipt_handle, visibility_timeout)


SQSBackend.change_message_visibility = _change_visibility_in_turn


def _delete_message(self: Queue, receipt_handle: str) -> None:
    # Takes the message out of the in-flight set a receive iterates.
    with _in_flight_lock(self):
        _delete_in_turn(self, receipt_handle)


def _delete_in_turn(self: Queue, receipt_handle: str) -> None:
    if receipt_handle in self.deleted_messages:
        # Already deleted: SQS accepts deleting it again.
        return
    message = _by_receipt_handle.get(receipt_handle)
    # Under the lock `add_message` takes, so a message sent meanwhile is not lost. Edited in place (moto
    # moves messages to a DLQ the same way): receives iterate a copy; the counts, which iterate it
    # directly, are approximate anyway. A copy per delete was most of a delete's cost at depth.
    with self._messages_lock:
        messages = self._messages
        # Messages compare by identity, so `index` is a scan in C, not a Python loop over each message's
        # handles; a message that has moved on (to a DLQ) is not in this queue's list, as before.
        index = _index_of(messages, message) if message is not None else None
        if index is not None:
            self.pending_messages.discard(message)
            self.deleted_messages.update(message.all_receipt_handles)
            del messages[index]
            return
    raise ReceiptHandleIsInvalid()


def _index_of(messages: list, message: Message):
    try:
        return messages.index(message)
    except ValueError:
        return None


Queue.delete_message = _delete_message
# 185 `random.choice` calls a receipt handle (a sixteenth of the emulator's time); the same length and
# opacity from the OS's generator.
moto.sqs.models.generate_receipt_handle = lambda: os.urandom(93).hex()[:185]


def _within_retention(self: SQSBackend, queue_name: str, message) -> bool:
    # moto read the one attribute through all of them (every count included), once per message received.
    retention_period = self.get_queue(queue_name).message_retention_period
    return retention_period + message.sent_timestamp / 1000 > time.time()


SQSBackend.is_message_valid_based_on_retention_period = _within_retention

_UNDERSCORED = {
    name: camelcase_to_underscores(name)
    for name in Queue.BASE_ATTRIBUTES + Queue.FIFO_ATTRIBUTES + Queue.KMS_ATTRIBUTES
}


_ATTRIBUTE_NAMES: dict = {}


class _Attributes(Mapping):
    """A queue's attributes as moto's `Queue.attributes` has them (same keys, same values), each computed
    when it is read."""

    def __init__(self, queue: Queue) -> None:
        self._queue = queue
        # Which names a queue has depends on two things only; built once each (5 % of the emulator's
        # GIL-held time in a drain when built for every read), never changed afterwards.
        kind = (bool(queue.fifo_queue), bool(queue.kms_master_key_id))
        names = _ATTRIBUTE_NAMES.get(kind)
        if names is None:
            listed = list(Queue.BASE_ATTRIBUTES)
            if kind[0]:
                listed += Queue.FIFO_ATTRIBUTES
            if kind[1]:
                listed += Queue.KMS_ATTRIBUTES
            names = _ATTRIBUTE_NAMES[kind] = dict.fromkeys(listed)
        self._names = names

    def __getitem__(self, name: str):
        if name not in self._names:
            raise KeyError(name)
        queue = self._queue
        if name == "Policy" and queue.policy:
            value = queue.policy
        elif name == "RedrivePolicy" and queue.redrive_policy:
            value = json.dumps(queue.redrive_policy)
        else:
            value = getattr(queue, _UNDERSCORED[name])
        if isinstance(value, bool):
            value = str(value).lower()
        return value

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def get(self, name, default=None):
        # `Mapping.get` finds a missing name by catching `__getitem__`'s `KeyError`, and every
        # `SendMessage` to a standard queue (each SNS delivery is one) asks for `ContentBasedDeduplication`,
        # which only a FIFO queue has: an exception raised and caught per delivery, a tenth of the
        # emulator's GIL-held time while the relay published.
        return self[name] if name in self._names else default

    def __iter__(self):
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


Queue.attributes = property(_Attributes)

# Every request looks its account's backends up several times (the response's setup marks the access
# key used in IAM's; SNS and SQS find their own), and each lookup took moto's global backend lock, copied
# the dict's keys into a list to test one, and compared itself with every registered `BackendDict`. With
# one thread per connection all waiting on that lock under the GIL, it was a third of the emulator's
# samples while the pipeline drained. A lookup of an account that is already there needs none of it: an
# account is only ever added under the lock, together with the registration, and `reset` removes both.
_backend_dict_getitem = BackendDict.__getitem__


def _known_account_first(self, account_id):
    try:
        return dict.__getitem__(self, account_id)
    except KeyError:
        return _backend_dict_getitem(self, account_id)


BackendDict.__getitem__ = _known_account_first

# Which actions a response class has was listed again for every request, by `inspect.getmembers` over the
# class (3.4 % of the emulator's busy time while the pipeline drained). A class's methods do not change
# while the server runs.
moto.core.responses.method_names_from_class = functools.lru_cache(maxsize=None)(
    lambda clazz: frozenset(moto.core.utils.method_names_from_class(clazz))
)

# Every published event is matched against every subscription's filter policy (seven here, one attribute
# each), through generators and closures per field: 6 % of the busy time. An attribute-scoped policy's
# answer depends only on the attributes it names (each field is matched on its own, and `$or` is the only
# key that is not a field name), and the events carry a handful of distinct values of those, so a
# subscription remembers its answers (a bounded number; `$or` and body-scoped policies are matched as
# before). Keyed on all the attributes, it would never hit: every event has its own correlation id.
_matches = FilterPolicyMatcher.matches
_REMEMBERED_MATCHES = 4096
_MISSING = object()


def _remembered_match(self, message_attributes, message):
    fields = self.__dict__.get("_orderly_fields")
    if fields is None:
        policy = self.filter_policy or {}
        plain = self.filter_policy_scope == "MessageAttributes" and not any(
            str(name).startswith("$") for name in policy
        )
        fields = self.__dict__["_orderly_fields"] = tuple(sorted(policy)) if plain else ()
    if not fields:
        return _matches(self, message_attributes, message)
    attributes = message_attributes or {}
    key = []
    for name in fields:
        value = attributes.get(name, _MISSING)
        if value is _MISSING:
            key.append((name, None))
        elif isinstance(value, dict):
            key.append((name, value.get("Type"), repr(value.get("Value"))))
        else:  # not a {Type, Value} map: let moto judge it
            return _matches(self, message_attributes, message)
    key = tuple(key)
    remembered = self.__dict__.setdefault("_orderly_matches", {})
    answer = remembered.get(key)
    if answer is None:
        answer = _matches(self, message_attributes, message)
        if len(remembered) >= _REMEMBERED_MATCHES:
            remembered.clear()
        remembered[key] = answer
    return answer


FilterPolicyMatcher.matches = _remembered_match

# A receive's answer went through moto's generic serializer, which walks the botocore shape and tries each
# member's name in several spellings on every message: a quarter of the emulator's busy time while the
# pipeline drained. Over SQS's JSON protocol the answer is plain JSON of what `receive_message` built, so
# it is written directly when every message attribute is a string or number (all this system sends);
# anything else (a binary attribute, the query protocol) takes moto's path. The parity check compares
# the two on every shape of message the system produces.
_ATTRIBUTE_FIELDS = {
    "DataType": "DataType",
    "data_type": "DataType",
    "StringValue": "StringValue",
    "string_value": "StringValue",
}


def _receive_json(result):
    """The JSON body moto's serializer makes of a `ReceiveMessage` result, or None to let it make it."""
    if set(result) - {"Messages"}:
        return None
    messages = []
    for message in result.get("Messages", ()):
        out = {}
        for key, value in message.items():
            if value is None:
                continue
            if key == "MessageAttributes":
                attributes = {}
                for name, attribute in value.items():
                    converted = {}
                    for field, field_value in attribute.items():
                        if field_value is None:
                            continue
                        if field not in _ATTRIBUTE_FIELDS or not isinstance(field_value, str):
                            return None
                        converted[_ATTRIBUTE_FIELDS[field]] = field_value
                    attributes[name] = converted
                value = attributes
            elif key == "Attributes":
                if not all(isinstance(v, str) for v in value.values()):
                    return None
            elif not isinstance(value, str):
                return None
            out[key] = value
        messages.append(out)
    return json.dumps({"Messages": messages} if messages else {})


_sqs_serialized = SQSResponse.serialized


def _written(response, content_type, body):
    """An answer written here instead of by moto's serializer, with the headers moto adds to every one."""
    headers = {"Content-Type": content_type}
    headers.update(response.response_headers)
    return 200, headers, body


_FAILED_ENTRY = {"Id", "SenderFault", "Code", "Message"}


def _delete_batch_json(result):
    """The JSON body moto's serializer makes of a `DeleteMessageBatch` result, or None to let it make it."""
    if set(result) != {"Successful", "Failed"}:
        return None
    for entry in result["Successful"]:
        if set(entry) != {"Id"} or not isinstance(entry["Id"], str):
            return None
    for entry in result["Failed"]:
        if set(entry) != _FAILED_ENTRY or not isinstance(entry["SenderFault"], bool) or not all(
            isinstance(entry[field], str) for field in ("Id", "Code", "Message")
        ):
            return None
    return json.dumps(result)


_WRITERS = {"ReceiveMessage": _receive_json, "DeleteMessageBatch": _delete_batch_json}


def _serialized_receive(self, action_result):
    result = action_result.result
    writer = _WRITERS.get(self._get_action()) if isinstance(result, dict) else None
    if writer is not None and self.determine_response_protocol(get_service_model("sqs")) == "json":
        body = writer(result)
        if body is not None:
            return _written(self, "application/x-amz-json-1.0", body)
    return _sqs_serialized(self, action_result)


SQSResponse.serialized = _serialized_receive

# A `PublishBatch` (SNS's query protocol: one form field per entry's field and attribute) was read twice,
# by werkzeug's form parser and then by moto's botocore-model parser, which walks the operation's shape
# for every field: a tenth of the emulator's GIL-held time while the pipeline drained, and the relay sends
# nothing else. The form's fields map to the parameters directly; a field this does not know (a binary
# attribute, say) leaves the request to moto's parser. The parity check compares the two.
_ENTRY_PREFIX = "PublishBatchRequestEntries.member."
_ATTRIBUTE_PREFIX = "MessageAttributes.entry."
_ENTRY_STRINGS = {
    "Id", "Message", "Subject", "MessageStructure", "MessageDeduplicationId", "MessageGroupId",
}
_ATTRIBUTE_VALUE_STRINGS = {"Value.DataType": "DataType", "Value.StringValue": "StringValue"}


def _publish_batch_params(values):
    """What moto's query parser makes of a `PublishBatch` form, or None to let it parse the form."""
    params, entries = {}, {}
    for key, value in values.items():
        if key in ("Action", "Version"):
            continue
        if key == "TopicArn":
            params["TopicArn"] = value
            continue
        if not key.startswith(_ENTRY_PREFIX):
            return None
        index, _, field = key[len(_ENTRY_PREFIX):].partition(".")
        if not index.isdigit():
            return None
        entry = entries.setdefault(int(index), {})
        if field in _ENTRY_STRINGS:
            entry[field] = value
            continue
        if not field.startswith(_ATTRIBUTE_PREFIX):
            return None
        number, _, attribute_field = field[len(_ATTRIBUTE_PREFIX):].partition(".")
        if not number.isdigit():
            return None
        attribute = entry.setdefault("_attributes", {}).setdefault(int(number), {})
        if attribute_field == "Name":
            attribute["Name"] = value
        elif attribute_field in _ATTRIBUTE_VALUE_STRINGS:
            attribute.setdefault("Value", {})[_ATTRIBUTE_VALUE_STRINGS[attribute_field]] = value
        else:
            return None
    if sorted(entries) != list(range(1, len(entries) + 1)):
        return None
    listed = []
    for index in sorted(entries):
        entry = entries[index]
        attributes = entry.pop("_attributes", None)
        if attributes is not None:
            if sorted(attributes) != list(range(1, len(attributes) + 1)):
                return None
            named = {}
            for number in sorted(attributes):
                attribute = attributes[number]
                if "Name" not in attribute or "Value" not in attribute:
                    return None
                named[attribute["Name"]] = attribute["Value"]
            entry["MessageAttributes"] = named
        listed.append(entry)
    if listed:
        params["PublishBatchRequestEntries"] = listed
    return params


_sns_parse_parameters = SNSResponse.parse_parameters


def _parse_publish_batch(self, request):
    if self._get_action() == "PublishBatch" and request.method == "POST":
        params = _publish_batch_params(request.values)
        if params is not None:
            self.params = params
            return
    _sns_parse_parameters(self, request)


SNSResponse.parse_parameters = _parse_publish_batch

# A `PublishBatch` answer went through moto's generic serializer, which walks the operation's botocore shape
# and tries each member's name in several spellings: an eighth of the emulator's GIL-held time while the
# relay published, for ten ids. The answer the relay gets (every entry published) is written directly; any
# other (a failed entry, a FIFO sequence number, pretty-printing) is left to moto. The parity check compares
# the two.
_PUBLISH_BATCH_XML = (
    '<PublishBatchResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishBatchResult>'
    "<Successful>{}</Successful><Failed/></PublishBatchResult>"
    "<ResponseMetadata><RequestId>request-id</RequestId></ResponseMetadata></PublishBatchResponse>"
)


def _publish_batch_xml(result):
    """The XML body moto's serializer makes of a `PublishBatch` result, or None to let it make it."""
    if not isinstance(result, dict) or set(result) != {"Successful", "Failed"} or result["Failed"]:
        return None
    members = []
    for entry in result["Successful"]:
        if set(entry) != {"Id", "MessageId"} or not all(isinstance(v, str) for v in entry.values()):
            return None
        members.append(f"<member><Id>{xml_escape(entry['Id'])}</Id>"
                       f"<MessageId>{xml_escape(entry['MessageId'])}</MessageId></member>")
    if not members:
        return None
    return _PUBLISH_BATCH_XML.format("".join(members))


_sns_serialized = SNSResponse.serialized


def _serialized_publish_batch(self, action_result):
    if self._get_action() == "PublishBatch" and not moto.settings.PRETTIFY_RESPONSES:
        body = _publish_batch_xml(action_result.result)
        if body is not None:
            return _written(self, "text/xml", body)
    return _sns_serialized(self, action_result)


SNSResponse.serialized = _serialized_publish_batch

# A consumer's batch is a `ReceiveMessage` and a `DeleteMessageBatch`, and about three quarters of what
# the emulator spent on them was the web layers around moto's SQS code: Flask's dispatch, werkzeug's
# request, moto's request setup (form and query-string parsing of a JSON body, botocore's parser walking
# the operation's shape). Then, with those gone, the relay's `PublishBatch` was most of what still went
# through them (moto's setup parsed its form, made a query-string dict of it and decoded that again).
# Those three actions, when plain, now skip the layers: moto's own response class runs its own action
# (`call_action`: validation, the backend, the answer, errors) on the parameters it would have parsed,
# set up as its `setup_class` would set up what those actions read, and the answer carries what Flask
# would add. Any other request, and these with anything unusual (another parameter or type, a query
# string, an Origin, a compressed body, moto's request recorder or IAM checks switched on), goes the whole
# way as before. tests/parity/sqs_semantics.py sends the same requests both ways and compares the answers.
def _string(value) -> bool:
    return type(value) is str


def _integer(value) -> bool:
    return type(value) is int  # `type`, not isinstance: a bool is not an int here


def _strings(value) -> bool:
    return type(value) is list and all(type(item) is str for item in value)


def _delete_entries(value) -> bool:
    return type(value) is list and all(
        type(entry) is dict and entry.keys() == {"Id", "ReceiptHandle"} and all(map(_string, entry.values()))
        for entry in value
    )


# Per action, what each parameter it may carry must be for botocore's parser to leave it as decoded.
_CONSUMER_ACTIONS = {
    "AmazonSQS.ReceiveMessage": {
        "QueueUrl": _string, "MaxNumberOfMessages": _integer, "WaitTimeSeconds": _integer,
        "VisibilityTimeout": _integer, "AttributeNames": _strings, "MessageSystemAttributeNames": _strings,
        "MessageAttributeNames": _strings,
    },
    "AmazonSQS.DeleteMessageBatch": {"QueueUrl": _string, "Entries": _delete_entries},
}
_FORM = "application/x-www-form-urlencoded"


def _plain_parameters(body: bytes, rules: dict):
    """The request's parameters when botocore's parser would make exactly the decoded JSON of them, else
    None. (A body with `&` is left to moto too: its setup reads any body as a query string as well.)"""
    if not body.startswith(b"{") or b"&" in body:
        return None
    try:
        params = json.loads(body)
    except ValueError:
        return None
    if not isinstance(params, dict) or "QueueUrl" not in params:
        return None
    for name, value in params.items():
        rule = rules.get(name)
        if rule is None or not rule(value):
            return None
    return params


def _plain_body(environ, content_type):
    """The body of a plain POST to `/` of this content type, or None to let Flask serve the request."""
    if (
        environ.get("REQUEST_METHOD") != "POST"
        or environ.get("PATH_INFO") != "/"
        or environ.get("QUERY_STRING")
        or environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower() != content_type
        or "HTTP_ORIGIN" in environ
        or "HTTP_CONTENT_ENCODING" in environ
        or not environ.get("CONTENT_LENGTH", "").isdigit()
        or recorder._user_enabled
        or ActionAuthenticatorMixin.request_count >= moto.settings.INITIAL_NO_AUTH_ACTION_COUNT
    ):
        return None
    body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
    environ["wsgi.input"] = io.BytesIO(body)  # for Flask, if it is to serve this after all
    return body


def _without_flask(environ, response, body, params, querystring):
    """What moto answers, run as its Flask view would run it, minus the layers."""
    request = BackendRequest(environ)
    full_url = request.raw_url
    # What `setup_class` sets that these actions, their answers and `call_action` read.
    response.is_werkzeug_request = True
    response.normalized_request = request
    response.parsed_url = urllib.parse.urlparse(full_url)
    response.raw_body = body
    response.body = body.decode("utf-8")
    response.querystring = response.data = querystring
    response.uri = full_url
    response.path = response.parsed_url.path
    response.raw_path = request.raw_path
    response.method = "POST"
    response.headers = request.headers
    response.region = response.get_region_from_url(request, full_url)
    response.partition = get_partition(response.region)
    response.uri_match = {}
    response.response_headers = {"server": "amazon.com"}
    response.params = params
    response.access_key = response.get_access_key()
    response.current_account = response.get_current_account()
    mark_account_as_visited(
        account_id=response.current_account, access_key=response.access_key,
        service=response.service_name, region=response.region,
    )
    status, headers, content = response.call_action()
    answer = werkzeug.wrappers.Response(response=content, status=status, headers=headers)
    if not DISABLE_GLOBAL_CORS:
        answer.headers["Access-Control-Allow-Origin"] = "*"  # flask-cors, for a request without an Origin
    return answer


def _consumer_answer(environ, rules):
    """moto's answer to a consumer's receive or delete without Flask, or None to let Flask serve it."""
    body = _plain_body(environ, "application/x-amz-json-1.0")
    params = None if body is None else _plain_parameters(body, rules)
    if params is None:
        return None
    # moto reads a body as a query string too; of a JSON object without `&` that is one odd name, which
    # none of these actions reads (`Action`, `AWSAccessKeyId`).
    return _without_flask(environ, SQSResponse(), body, params, {})


def _publish_batch_answer(environ):
    """moto's answer to the relay's `PublishBatch` without Flask, or None to let Flask serve it."""
    body = _plain_body(environ, _FORM)
    if body is None:
        return None
    try:  # as werkzeug parses a form
        form = MultiDict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True, errors="werkzeug.url_quote"))
    except UnicodeDecodeError:
        return None
    if form.get("Action") != "PublishBatch" or "AWSAccessKeyId" in form:
        return None
    params = _publish_batch_params(form)
    if params is None:
        return None
    # Of moto's query-string dict of the form (each field's first value, in a list) this action and its
    # answer read `Action` alone (`AWSAccessKeyId` is excluded above); the whole dict cost 2.6 % of the
    # emulator's time to build. werkzeug hands a parsed form's request no other body.
    return _without_flask(environ, SNSResponse(), b"", params, {"Action": ["PublishBatch"]})


_dispatch = DomainDispatcherApplication.__call__


def _without_flask_first(self, environ, start_response):
    target = environ.get("HTTP_X_AMZ_TARGET")
    rules = _CONSUMER_ACTIONS.get(target)
    form = target is None and environ.get("CONTENT_TYPE", "").startswith(_FORM)
    if rules is None and not form:
        return _dispatch(self, environ, start_response)
    application = self.get_application(environ)
    service = getattr(application, "service", None)
    answer = None
    if rules is not None and service == "sqs":
        answer = _consumer_answer(environ, rules)
    elif form and service == "sns":
        answer = _publish_batch_answer(environ)
    if answer is not None:
        return answer(environ, start_response)
    return application(environ, start_response)


DomainDispatcherApplication.__call__ = _without_flask_first

# Every answer's request id was also written into its body by a regular expression with a look-behind
# and `.*`, run over the whole body (3 % of the emulator's time in a drain, over receives' JSON): it can
# only match where the body has `<RequestId>`, so a body without it is left as it is without the search.
_enrich_response = BaseResponse._enrich_response


def _enrich_found_request_id(headers, body):
    if isinstance(body, str) and "<RequestId>" not in body:
        if "status" in headers:
            headers["status"] = str(headers["status"])
        moto.core.responses.gen_amzn_requestid_long(headers)
        return headers, body
    return _enrich_response(headers, body)


BaseResponse._enrich_response = staticmethod(_enrich_found_request_id)

_backend_for_host = DomainDispatcherApplication.get_backend_for_host
_backends_by_host: dict = {}


def _remembered_backend_for_host(self, host):
    # A pure function of the host (moto's module list and URL patterns are fixed once it runs); called
    # under the dispatcher's lock.
    if host not in _backends_by_host:
        _backends_by_host[host] = _backend_for_host(self, host)
    return _backends_by_host[host]


DomainDispatcherApplication.get_backend_for_host = _remembered_backend_for_host

_unquote_to_bytes = urllib.parse.unquote_to_bytes


def _c_unquote_to_bytes(string):
    """`unquote_to_bytes`, with `%XX` turned into `\\xXX` for C's escape decoder (backslashes doubled
    first, so that only our escapes are escapes). A malformed escape makes the decoder raise; then the
    original decides, as it always did."""
    if isinstance(string, str):
        string = string.encode("utf-8")
    if not isinstance(string, bytes) or b"%" not in string:
        return _unquote_to_bytes(string)
    try:
        return codecs.escape_decode(string.replace(b"\\", b"\\\\").replace(b"%", b"\\x"))[0]
    except ValueError:
        return _unquote_to_bytes(string)


# `unquote` (and with it `parse_qs` and werkzeug's form parser) looks this name up on every call.
urllib.parse.unquote_to_bytes = _c_unquote_to_bytes


class BatchRequestTooLong(SNSException):
    code = "BatchRequestTooLong"
    message = "The length of all the batch messages put together is more than the limit."


def _attribute_bytes(attributes: Mapping) -> int:
    """Name, type and value of each attribute, as AWS counts them (moto has them as `Type`/`Value`)."""
    return sum(
        len(name.encode()) + len(str(value["Type"]).encode()) + len(str(value["Value"]).encode())
        for name, value in attributes.items()
    )


def _batch_bytes(entries: list) -> int:
    return sum(
        len(entry["Message"].encode()) + _attribute_bytes(entry.get("MessageAttributes") or {})
        for entry in entries
    )


_publish_batch = SNSBackend.publish_batch


def _publish_batch_within_limit(self, topic_arn, publish_batch_request_entries):
    if _batch_bytes(publish_batch_request_entries) > MAXIMUM_MESSAGE_LENGTH:
        raise BatchRequestTooLong
    return _publish_batch(self, topic_arn, publish_batch_request_entries)


SNSBackend.publish_batch = _publish_batch_within_limit

_stock_parse_headers = http.client.parse_headers
# One header on one line, as the email parser reads it: a name of printable characters other than the
# colon, the value after blanks, and nothing that parser would split the line at (a lone `\r`).
_HEADER_LINE = re.compile(r"([\041-\071\073-\176]+):[ \t]*([^\r\n]*)\r?\n")


def _parse_headers(fp, _class=http.client.HTTPMessage):
    """`http.client.parse_headers`, which the HTTP server runs for every request: the standard library
    hands the header block to the email package's feed parser, about 90 µs for an AWS SDK's eleven
    headers, 6.5 % of the emulator's GIL-held time while the pipeline drained. Headers of one line each
    are taken here as that parser takes them (the same message, the same order, duplicates kept);
    anything else (a folded line, a line without a name, a `From ` line, a block cut short) goes to the
    original with the same bytes."""
    lines = http.client._read_headers(fp)
    headers = [_HEADER_LINE.fullmatch(line.decode("iso-8859-1")) for line in lines[:-1]]
    if lines[-1] not in (b"\r\n", b"\n") or not all(headers):
        return email.parser.Parser(_class=_class).parsestr(b"".join(lines).decode("iso-8859-1"))
    message = _class()
    for header in headers:
        message.set_raw(header[1], header[2])
    message.set_payload("")
    return message


# The HTTP server looks this name up on every request.
http.client.parse_headers = _parse_headers


class _Keeping(threading.local):
    """Whether the request this connection's thread is handling keeps its connection. False on a
    thread that has not run a request yet: werkzeug may answer a malformed request line before it
    calls `run_wsgi`."""

    alive = False


_keeping = _Keeping()


class _KeepAliveHandler(MotoRequestHandler):
    """Werkzeug's development server ends every response with `Connection: close`, because its handler
    cannot tell how much of a request the application left unread before the next request line. So each
    AWS call opened a TCP connection and the server started a thread for it: a profile of the orders
    benchmark put thread starts alone at 11-15 % of the emulator's time, besides each connect's cost to
    the caller. Here a request whose length is declared is read whole before the application runs (the
    application reads a copy), so nothing is left unread, and its connection is kept for the next
    request; a chunked request, whose length is not known, still closes its connection as before."""

    def run_wsgi(self) -> None:
        self._body = None
        length = self.headers.get("Content-Length")
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        if length is not None and not chunked and length.strip().isdigit():
            self._body = self.rfile.read(int(length))
        # Read by the drain below, which runs on this connection's thread.
        _keeping.alive = self._body is not None
        try:
            super().run_wsgi()
        finally:
            _keeping.alive = False

    def make_environ(self):
        environ = super().make_environ()
        if self._body is not None:
            environ["wsgi.input"] = io.BytesIO(self._body)
        return environ

    def send_header(self, keyword, value) -> None:
        if _keeping.alive and keyword.lower() == "connection" and value.lower() == "close":
            return
        super().send_header(keyword, value)


class _Drain:
    """After each response werkzeug reads whatever the client sent beyond the request, waiting up to
    10 ms for it, and throws it away: on a kept connection that would be the next request. A request
    read whole has nothing left to drain, so its drain finds nothing at once."""

    EVENT_READ = selectors.EVENT_READ

    class DefaultSelector(selectors.DefaultSelector):
        def select(self, timeout=None):
            if _keeping.alive:
                return []
            return super().select(timeout)


werkzeug.serving.selectors = _Drain
moto.server.MotoRequestHandler = _KeepAliveHandler

if __name__ == "__main__":
    sys.exit(main())
