#!/usr/bin/env python3
"""How the depth of an SQS queue slows the emulator: stock moto next to moto as moto_server.py patches it.

A pipeline stage's cycle (send ten, receive ten with a visibility timeout, delete them) against queues of
growing depth,
in this process, through moto's own SQS backend (no HTTP, so only the queue's bookkeeping is measured);
then the decoding of an SNS request's form-encoded body (what the web layer and moto each do to every
`Publish`) for a broadcast page's `notification.sent` of 1,000 recipients; last, the relay's `PublishBatch`
of ten `order.placed` events through moto's whole web application in this process (routing, form parsing,
the SNS→SQS fan-out that template.yaml's subscriptions choose, the answer), without sockets; and the
parsing of the headers every request carries; and what a queue keeps of the messages that went through it.
The two sides alternate A/B/A/B on fresh queues of the same depth; each prints the median time per cycle
of its rounds and the spread between them, and the ratio. `make bench` runs it (BENCH_ONLY=emulator) and
writes the table to target/bench/emulator.md.

    depth_bench.py [--depths 1000,5000] [--cycles 20] [--rounds 2] [--batches 30] [--out FILE]
"""

import argparse
import gc
import http.client
import importlib.util
import io
import pathlib
import json
import statistics
import time
import urllib.parse
import uuid

import moto.core.responses
import moto.core.utils
import moto.sqs.models
from cfnlint.decode import cfn_yaml
from moto.core.base_backend import BackendDict
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.sns.models import SNSBackend, sns_backends
from moto.sns.responses import SNSResponse
from moto.sns.utils import FilterPolicyMatcher
from moto.sqs.models import Message, Queue, SQSBackend, sqs_backends
from moto.sqs.responses import SQSResponse
from werkzeug.test import Client

# Everything moto_server.py replaces that a queue's cycle runs through (the rest is HTTP dispatch).
PATCHED = (
    (moto.core.utils, "unix_time"),
    (moto.core.utils, "unix_time_millis"),
    (moto.sqs.models, "unix_time"),
    (moto.sqs.models, "unix_time_millis"),
    (moto.sqs.models, "generate_receipt_handle"),
    (moto.sqs.models, "deepcopy"),
    (Message, "mark_received"),
    (Message, "__new__"),
    (Queue, "attributes"),
    (Queue, "messages"),
    (Queue, "delete_message"),
    (Queue, "approximate_number_of_messages"),
    (Queue, "approximate_number_of_messages_not_visible"),
    (Queue, "approximate_number_of_messages_delayed"),
    (SQSBackend, "is_message_valid_based_on_retention_period"),
    (SQSBackend, "receive_message"),
    (SQSBackend, "change_message_visibility"),
    (urllib.parse, "unquote_to_bytes"),
    # and what a request runs through on its way to and from the backends
    (BackendDict, "__getitem__"),
    (moto.core.responses, "method_names_from_class"),
    (FilterPolicyMatcher, "matches"),
    (SQSResponse, "serialized"),
    (SNSResponse, "parse_parameters"),
    (SNSResponse, "serialized"),
    (SNSBackend, "publish_batch"),
    (DomainDispatcherApplication, "get_backend_for_host"),
    (DomainDispatcherApplication, "__call__"),
    (moto.core.responses.BaseResponse, "_enrich_response"),
    (http.client, "parse_headers"),
)
# What a class inherits is not in its own namespace: stock moto has no method of its own there.
INHERITED = object()


def variants():
    stock = {(cls, name): cls.__dict__.get(name, INHERITED) for cls, name in PATCHED}
    spec = importlib.util.spec_from_file_location("moto_server", pathlib.Path(__file__).with_name("moto_server.py"))
    spec.loader.exec_module(importlib.util.module_from_spec(spec))  # patches moto, as the server does
    patched = {(cls, name): cls.__dict__[name] for cls, name in PATCHED}
    return {"stock moto": stock, "patched": patched}


def use(methods):
    for (cls, name), method in methods.items():
        if method is INHERITED:
            if name in cls.__dict__:
                delattr(cls, name)
        else:
            setattr(cls, name, method)


def seconds_per_cycle(backend, depth, cycles, side, filler):
    # Filled by the fast side whichever is measured: only the cycles at that depth are timed.
    use(filler)
    name = f"depth-{uuid.uuid4().hex[:8]}"
    backend.create_queue(name)
    for i in range(depth):
        backend.send_message(name, f"message {i}")
    use(side)
    started = time.perf_counter()
    for _ in range(cycles):
        for i in range(10):
            backend.send_message(name, f"more {i}")
        messages = backend.receive_message(name, 10, 0, 30)
        for message in messages:
            backend.delete_message(name, message.receipt_handle)
    elapsed = time.perf_counter() - started
    backend.delete_queue(name)
    return elapsed / cycles


def seconds_per_lifecycle(backend, messages, side, after):
    """`messages` messages sent, received and deleted ten at a time through one queue, from a process
    that holds no message yet; `after` gets what is still held afterwards and a full collection's time."""
    Message.instances_tracked = []
    gc.collect()
    use(side)
    name = f"lifecycle-{uuid.uuid4().hex[:8]}"
    backend.create_queue(name)
    body = json.dumps({"event_type": "order.paid", "data": {"order_id": str(uuid.uuid4()), "note": "x" * 600}})
    started = time.perf_counter()
    for _ in range(messages // 10):
        for _ in range(10):
            backend.send_message(name, body)
        for message in backend.receive_message(name, 10, 0, 30):
            backend.delete_message(name, message.receipt_handle)
    elapsed = time.perf_counter() - started
    collected = time.perf_counter()
    gc.collect()
    after.update(kept=len(Message.instances_tracked), collection_ms=(time.perf_counter() - collected) * 1000)
    backend.delete_queue(name)
    Message.instances_tracked = []
    return elapsed


def seconds_per_decode(body, decodes, side):
    use(side)
    started = time.perf_counter()
    for _ in range(decodes):
        urllib.parse.parse_qs(body)
    return (time.perf_counter() - started) / decodes


# What an AWS SDK for Rust sends with an SQS call (the signature shortened): every request's header block.
SDK_HEADERS = (
    b"host: 127.0.0.1:4566\r\ncontent-type: application/x-amz-json-1.0\r\nx-amz-target: AmazonSQS.ReceiveMessage\r\n"
    b"x-amz-user-agent: aws-sdk-rust/1.3.9 ua/2.1 api/sqs/1.50.0 os/linux lang/rust/1.88.0\r\n"
    b"user-agent: aws-sdk-rust/1.3.9 os/linux lang/rust/1.88.0\r\nx-amz-date: 20261207T010000Z\r\n"
    b"authorization: AWS4-HMAC-SHA256 Credential=test/20261207/us-east-1/sqs/aws4_request, "
    b"SignedHeaders=content-length;content-type;host;x-amz-date;x-amz-target;x-amz-user-agent, Signature=0\r\n"
    b"content-length: 120\r\namz-sdk-invocation-id: 5d1c7d4e-0d6b-4b8f-9d6b-1b0c7f7e1a2b\r\n"
    b"amz-sdk-request: attempt=1; max=3\r\nx-amzn-query-mode: true\r\n\r\n")


def seconds_per_header_parse(parses, side):
    use(side)
    started = time.perf_counter()
    for _ in range(parses):
        http.client.parse_headers(io.BytesIO(SDK_HEADERS))
    return (time.perf_counter() - started) / parses


def sns_body(recipients):
    """The form-encoded `Publish` of a `notification.sent` naming `recipients` users (ids as the relay
    sends them)."""
    message = json.dumps({"event_type": "notification.sent", "data": {
        "user_ids": [str(uuid.uuid4()) for _ in range(recipients)]}})
    return urllib.parse.urlencode({"Action": "Publish", "TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": message})


ACCOUNT, REGION = "123456789012", "us-east-1"
# Which service a request is for, as moto tells it on a local host: from the credential's scope.
def authorization(service):
    return f"AWS4-HMAC-SHA256 Credential=test/20261206/{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0"


def template_subscriptions():
    """template.yaml's SNS subscriptions to SQS queues: name and properties."""
    template = cfn_yaml.load(str(pathlib.Path(__file__).parents[2] / "template.yaml"))
    return [(name, resource["Properties"]) for name, resource in template["Resources"].items()
            if resource["Type"] == "AWS::SNS::Subscription" and resource["Properties"].get("Protocol") == "sqs"]


def relay_topic(subscriptions):
    """A topic with `subscriptions` (their filter policies, raw delivery), each to a queue of its own;
    returns the topic's ARN and the queues' names."""
    sns, sqs = sns_backends[ACCOUNT][REGION], sqs_backends[ACCOUNT][REGION]
    topic = sns.create_topic(f"events-{uuid.uuid4().hex[:8]}").arn
    queues = []
    for name, properties in subscriptions:
        queue = sqs.create_queue(f"{name}-{uuid.uuid4().hex[:8]}")
        queues.append(queue.name)
        subscription = sns.subscribe(topic, queue.queue_arn, "sqs")
        if properties.get("RawMessageDelivery"):
            sns.set_subscription_attributes(subscription.arn, "RawMessageDelivery", "true")
        if "FilterPolicy" in properties:
            sns.set_subscription_attributes(subscription.arn, "FilterPolicy", json.dumps(properties["FilterPolicy"]))
    return topic, queues


def relay_batch(topic):
    """The relay's `PublishBatch` of ten `order.placed` events, form-encoded as the AWS SDK sends it."""
    form = {"Action": "PublishBatch", "Version": "2010-03-31", "TopicArn": topic}
    for n in range(1, 11):
        entry = f"PublishBatchRequestEntries.member.{n}."
        form[entry + "Id"] = str(uuid.uuid4())
        form[entry + "Message"] = json.dumps({"event_type": "order.placed", "order_id": str(uuid.uuid4()),
                                              "total_cents": 1000, "currency": "EUR"})
        for m, (name, value) in enumerate((("event_type", "order.placed"), ("correlation_id", str(uuid.uuid4()))), 1):
            attribute = f"{entry}MessageAttributes.entry.{m}."
            form[attribute + "Name"] = name
            form[attribute + "Value.DataType"] = "String"
            form[attribute + "Value.StringValue"] = value
    return urllib.parse.urlencode(form)


def seconds_per_publish(subscriptions, batches, side):
    """A `PublishBatch` through moto's web application in this process (routing, parsing, the backends,
    the answer; no sockets), onto fresh queues so that each side delivers into the same depths."""
    use(side)
    topic, queues = relay_topic(subscriptions)
    client = Client(DomainDispatcherApplication(create_backend_app))
    headers = {"Authorization": authorization("sns"), "Host": "127.0.0.1:4566",
               "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    bodies = [relay_batch(topic) for _ in range(batches)]
    started = time.perf_counter()
    for body in bodies:
        answer = client.post("/", data=body, headers=headers)
        assert answer.status_code == 200 and b"<Failed/>" in answer.data, answer.data
    elapsed = time.perf_counter() - started
    sqs = sqs_backends[ACCOUNT][REGION]
    for name in queues:
        sqs.delete_queue(name)
    sns_backends[ACCOUNT][REGION].delete_topic(topic)
    return elapsed / batches


def seconds_per_consumer_batch(batches, side):
    """A poller's batch as the gateway asks for it: `ReceiveMessage` of ten with every attribute, then a
    `DeleteMessageBatch` of the ten, through moto's web application in this process (no sockets), of ten
    events (JSON, with attributes) sent before each batch and not timed: every side at the same depth."""
    use(side)
    client = Client(DomainDispatcherApplication(create_backend_app))
    backend = sqs_backends[ACCOUNT][REGION]
    name = f"consumer-{uuid.uuid4().hex[:8]}"
    url = f"http://127.0.0.1:4566/{ACCOUNT}/{name}"
    backend.create_queue(name)
    body = json.dumps({"event_type": "order.paid", "data": {"order_id": str(uuid.uuid4()), "note": "x" * 600}})
    attributes = {"event_type": {"DataType": "String", "StringValue": "order.paid"},
                  "correlation_id": {"DataType": "String", "StringValue": str(uuid.uuid4())}}

    def call(action, params):
        answer = client.post("/", data=json.dumps({"QueueUrl": url, **params}), headers={
            "Authorization": authorization("sqs"), "Host": "127.0.0.1:4566", "X-Amz-Target": f"AmazonSQS.{action}",
            "Content-Type": "application/x-amz-json-1.0"})
        assert answer.status_code == 200, answer.data
        return json.loads(answer.data)

    elapsed = 0.0
    for _ in range(batches):
        for _ in range(10):
            backend.send_message(name, body, message_attributes=attributes)
        started = time.perf_counter()
        messages = call("ReceiveMessage", {"MaxNumberOfMessages": 10, "WaitTimeSeconds": 0,
                                           "MessageSystemAttributeNames": ["All"], "MessageAttributeNames": ["All"]})
        entries = [{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in messages["Messages"]]
        assert len(entries) == 10 and not call("DeleteMessageBatch", {"Entries": entries})["Failed"]
        elapsed += time.perf_counter() - started
    backend.delete_queue(name)
    return elapsed / batches


def alternated(sides, rounds, measure):
    """Runs `measure(side)` for each side in turn, `rounds` times (A/B/A/B); per side, the median and the
    spread between its rounds (% of the median)."""
    times = {side: [] for side in sides}
    for _ in range(rounds):
        for side, methods in sides.items():
            times[side].append(measure(methods) * 1000)
    return [median_and_spread(t) for t in times.values()]


def median_and_spread(times):
    median = statistics.median(times)
    return median, (max(times) - min(times)) / median * 100 if median else 0.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--depths", default="1000,5000")
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--out")
    args = parser.parse_args()
    backend = sqs_backends[ACCOUNT][REGION]
    sides = variants()
    lines = [
        f"SQS cycle (send 10, receive 10, delete 10) against a queue's depth, in-process, {args.cycles} cycles per round, "
        f"{args.rounds} rounds per side alternating",
        "",
        "| depth | stock moto ms/cycle | patched ms/cycle | stock / patched |",
        "|---|---|---|---|",
    ]
    for depth in (int(d) for d in args.depths.split(",")):
        (stock, stock_spread), (patched, patched_spread) = alternated(
            sides, args.rounds, lambda side: seconds_per_cycle(backend, depth, args.cycles, side, sides["patched"]))
        lines.append(f"| {depth:,} | {stock:,.2f} (±{stock_spread:.0f} %) | {patched:,.2f} (±{patched_spread:.0f} %) "
                     f"| {stock / patched:,.0f}× |")
    body = sns_body(1000)
    (stock, _), (patched, _) = alternated(sides, args.rounds, lambda side: seconds_per_decode(body, args.cycles, side))
    lines += [
        "",
        f"Decoding an SNS `Publish` of a 1,000-recipient `notification.sent` ({len(body):,} bytes form-encoded), "
        f"in-process, {args.cycles} decodes per round: stock {stock:.2f} ms, patched {patched:.2f} ms, {stock / patched:.0f}×",
    ]
    # The way around Flask alone: the patched emulator with and without it.
    dispatch = (DomainDispatcherApplication, "__call__")
    through_flask = {"stock moto": sides["stock moto"], "patched": sides["patched"],
                     "patched, through Flask": {**sides["patched"], dispatch: sides["stock moto"][dispatch]}}
    subscriptions = template_subscriptions()
    (stock, stock_spread), (patched, patched_spread), (flask, flask_spread) = alternated(
        through_flask, args.rounds, lambda side: seconds_per_publish(subscriptions, args.batches, side))
    lines += [
        "",
        f"The relay's `PublishBatch` (ten `order.placed` events, delivered to the queues template.yaml's "
        f"subscriptions choose), through moto's web application in-process, {args.batches} batches per round: "
        f"stock {stock:.2f} ms (±{stock_spread:.0f} %), patched but through Flask {flask:.2f} ms "
        f"(±{flask_spread:.0f} %), patched {patched:.2f} ms (±{patched_spread:.0f} %); {stock / patched:.1f}× "
        f"in all, {flask / patched:.2f}× for answering without Flask",
    ]
    parses = args.cycles * 500
    (stock, stock_spread), (patched, patched_spread) = alternated(
        sides, args.rounds, lambda side: seconds_per_header_parse(parses, side))
    lines += [
        "",
        f"Parsing an AWS SDK request's eleven headers (the HTTP server, every request), in-process, {parses:,} "
        f"parses per round: stock {stock * 1000:.1f} µs (±{stock_spread:.0f} %), "
        f"patched {patched * 1000:.1f} µs (±{patched_spread:.0f} %), {stock / patched:.1f}×",
    ]
    batches = args.batches * 10
    (stock, stock_spread), (patched, patched_spread), (flask, flask_spread) = alternated(
        through_flask, args.rounds, lambda side: seconds_per_consumer_batch(batches, side))
    lines += [
        "",
        f"A poller's batch (`ReceiveMessage` of ten with every attribute, then `DeleteMessageBatch`), through "
        f"moto's web application in-process, {batches:,} batches per round: stock {stock:.2f} ms "
        f"(±{stock_spread:.0f} %), patched but through Flask {flask:.2f} ms (±{flask_spread:.0f} %), "
        f"patched {patched:.2f} ms (±{patched_spread:.0f} %); {flask / patched:.1f}× for answering without Flask",
    ]
    messages = args.cycles * 3_000
    # Only what a queue keeps differs: the patched emulator with moto's tracking of every message put back.
    tracking = {"moto's tracking": {**sides["patched"], (Message, "__new__"): INHERITED}, "patched": sides["patched"]}
    after = {side: {} for side in tracking}
    named = {id(methods): name for name, methods in tracking.items()}
    (tracked, tracked_spread), (patched, patched_spread) = alternated(
        tracking, args.rounds, lambda side: seconds_per_lifecycle(backend, messages, side, after[named[id(side)]]))
    (kept_tracked, kept), (collection_tracked, collection) = (
        [after[side][key] for side in tracking] for key in ("kept", "collection_ms"))
    lines += [
        "",
        f"{messages:,} messages sent, received and deleted through one queue, in-process, the patched emulator "
        f"with moto's tracking of every message and without: {tracked / 1000:.2f} s (±{tracked_spread:.0f} %) "
        f"against {patched / 1000:.2f} s (±{patched_spread:.0f} %), {tracked / patched:.2f}×; messages still held "
        f"afterwards {kept_tracked:,} against {kept:,}; a full garbage collection then "
        f"{collection_tracked:.0f} ms against {collection:.0f} ms",
    ]
    use(sides["patched"])
    print("\n".join(lines))
    if args.out:
        pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
