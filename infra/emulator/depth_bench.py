#!/usr/bin/env python3
"""How the depth of an SQS queue slows the emulator: stock moto next to moto as moto_server.py patches it.

A pipeline stage's cycle (send ten, receive ten with a visibility timeout, delete them) against queues of
growing depth,
in this process, through moto's own SQS backend (no HTTP, so only the queue's bookkeeping is measured);
then the decoding of an SNS request's form-encoded body (what the web layer and moto each do to every
`Publish`) for a broadcast page's `notification.sent` of 1,000 recipients.
The two sides alternate A/B/A/B on fresh queues of the same depth; each prints the median time per cycle
of its rounds and the spread between them, and the ratio. `make bench` runs it (BENCH_ONLY=emulator) and
writes the table to target/bench/emulator.md.

    depth_bench.py [--depths 1000,5000] [--cycles 20] [--rounds 2] [--out FILE]
"""

import argparse
import importlib.util
import pathlib
import json
import statistics
import time
import urllib.parse
import uuid

import moto.core.utils
import moto.sqs.models
from moto.sqs.models import Message, Queue, SQSBackend, sqs_backends

# Everything moto_server.py replaces that a queue's cycle runs through (the rest is HTTP dispatch).
PATCHED = (
    (moto.core.utils, "unix_time"),
    (moto.core.utils, "unix_time_millis"),
    (moto.sqs.models, "unix_time"),
    (moto.sqs.models, "unix_time_millis"),
    (moto.sqs.models, "generate_receipt_handle"),
    (Message, "mark_received"),
    (Queue, "attributes"),
    (Queue, "messages"),
    (Queue, "delete_message"),
    (Queue, "approximate_number_of_messages"),
    (Queue, "approximate_number_of_messages_not_visible"),
    (Queue, "approximate_number_of_messages_delayed"),
    (SQSBackend, "is_message_valid_based_on_retention_period"),
    (urllib.parse, "unquote_to_bytes"),
)


def variants():
    stock = {(cls, name): cls.__dict__[name] for cls, name in PATCHED}
    spec = importlib.util.spec_from_file_location("moto_server", pathlib.Path(__file__).with_name("moto_server.py"))
    spec.loader.exec_module(importlib.util.module_from_spec(spec))  # patches moto, as the server does
    patched = {(cls, name): cls.__dict__[name] for cls, name in PATCHED}
    return {"stock moto": stock, "patched": patched}


def use(methods):
    for (cls, name), method in methods.items():
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


def seconds_per_decode(body, decodes, side):
    use(side)
    started = time.perf_counter()
    for _ in range(decodes):
        urllib.parse.parse_qs(body)
    return (time.perf_counter() - started) / decodes


def sns_body(recipients):
    """The form-encoded `Publish` of a `notification.sent` naming `recipients` users (ids as the relay
    sends them)."""
    message = json.dumps({"event_type": "notification.sent", "data": {
        "user_ids": [str(uuid.uuid4()) for _ in range(recipients)]}})
    return urllib.parse.urlencode({"Action": "Publish", "TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": message})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--depths", default="1000,5000")
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out")
    args = parser.parse_args()
    backend = sqs_backends["123456789012"]["us-east-1"]
    sides = variants()
    lines = [
        f"SQS cycle (send 10, receive 10, delete 10) against a queue's depth, in-process, {args.cycles} cycles per round, "
        f"{args.rounds} rounds per side alternating",
        "",
        "| depth | stock moto ms/cycle | patched ms/cycle | stock / patched |",
        "|---|---|---|---|",
    ]
    for depth in (int(d) for d in args.depths.split(",")):
        times = {side: [] for side in sides}
        for _ in range(args.rounds):
            for side, methods in sides.items():
                times[side].append(seconds_per_cycle(backend, depth, args.cycles, methods, sides["patched"]) * 1000)
        cells = []
        for side in sides:
            median = statistics.median(times[side])
            spread = (max(times[side]) - min(times[side])) / median * 100 if median else 0.0
            cells.append((median, spread))
        (stock, stock_spread), (patched, patched_spread) = cells
        lines.append(f"| {depth:,} | {stock:,.2f} (±{stock_spread:.0f} %) | {patched:,.2f} (±{patched_spread:.0f} %) "
                     f"| {stock / patched:,.0f}× |")
    body = sns_body(1000)
    times = {side: [] for side in sides}
    for _ in range(args.rounds):
        for side, methods in sides.items():
            times[side].append(seconds_per_decode(body, args.cycles, methods) * 1000)
    stock, patched = (statistics.median(times[side]) for side in sides)
    lines += [
        "",
        f"Decoding an SNS `Publish` of a 1,000-recipient `notification.sent` ({len(body):,} bytes form-encoded), "
        f"in-process, {args.cycles} decodes per round: stock {stock:.2f} ms, patched {patched:.2f} ms, {stock / patched:.0f}×",
    ]
    use(sides["patched"])
    print("\n".join(lines))
    if args.out:
        pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
