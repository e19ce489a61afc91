#!/usr/bin/env python3
"""SQS as the local emulator serves it still behaves like SQS after our speed fixes to moto.

infra/emulator/moto_server.py replaces how moto walks a queue on receive and delete and caches the
approximate counts. This drives the running emulator through boto3 (a client that shares no code with
ours) over the cases those replacements touch: arrival order, visibility, deleting twice, a bogus receipt
handle, deleting a message another receive made visible again, redrive to a DLQ after maxReceiveCount,
the approximate counts settling, queue attributes (all and by name), timestamps, content-based
deduplication and delays; and SNS, whose form-encoded requests it percent-decodes its own way, delivering
every byte of a message as sent. Needs the local stack's emulator (`make test` runs it); exits non-zero on
the first mismatch.
"""

import json
import os
import random
import re
import sys
import time
import uuid

import boto3
from botocore.exceptions import ClientError

# The in-process comparisons import the emulator's own replacements (infra/emulator/moto_server.py).
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "infra", "emulator"))

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL") or f"http://127.0.0.1:{os.environ.get('ORDERLY_EMULATOR_PORT', '4566')}"
sqs = boto3.client("sqs", endpoint_url=ENDPOINT, region_name=os.environ.get("AWS_REGION", "us-east-1"),
                   aws_access_key_id="test", aws_secret_access_key="test")
sns = boto3.client("sns", endpoint_url=ENDPOINT, region_name=os.environ.get("AWS_REGION", "us-east-1"),
                   aws_access_key_id="test", aws_secret_access_key="test")
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)


def queue(name, **attributes):
    return sqs.create_queue(QueueName=f"parity-{name}-{uuid.uuid4().hex[:8]}",
                            Attributes={k: str(v) for k, v in attributes.items()})["QueueUrl"]


def receive(url, n=10, visibility=30):
    return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=n, VisibilityTimeout=visibility,
                               AttributeNames=["ApproximateReceiveCount"]).get("Messages", [])


def counts(url):
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def main():
    url = queue("order")
    for i in range(25):
        sqs.send_message(QueueUrl=url, MessageBody=str(i))
    first = receive(url)
    second = receive(url)
    check([m["Body"] for m in first + second] == [str(i) for i in range(20)],
          "receives take visible messages in arrival order, skipping in-flight ones")
    check([m["Body"] for m in receive(url, visibility=0)] == [str(i) for i in range(20, 25)],
          "the last five are still visible")

    sqs.delete_message(QueueUrl=url, ReceiptHandle=first[3]["ReceiptHandle"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first[3]["ReceiptHandle"])
    check(True, "deleting the same receipt handle twice is accepted")
    try:
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")
        check(False, "a bogus receipt handle is refused")
    except ClientError as error:
        check(error.response["Error"]["Code"] == "ReceiptHandleIsInvalid",
              f"a bogus receipt handle is refused ({error.response['Error']['Code']})")

    # Hand the second batch back: visible again, received again with a higher count, and the first
    # receipt handle still deletes it (SQS accepts any handle the message had).
    for m in second:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
    again = receive(url)
    check([m["Body"] for m in again] == [str(i) for i in range(10, 20)],
          "messages made visible again come back in their place")
    check(all(m["Attributes"]["ApproximateReceiveCount"] == "2" for m in again), "their receive count is 2")
    sqs.delete_message(QueueUrl=url, ReceiptHandle=second[0]["ReceiptHandle"])
    deleted = {first[3]["Body"], second[0]["Body"]}
    for m in first + again:
        if m["Body"] in deleted:
            continue
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
    seen = []
    while batch := receive(url):
        seen += [m["Body"] for m in batch]
        for m in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    check(sorted(seen, key=int) == [str(i) for i in range(25) if str(i) not in deleted],
          "draining returns every message not deleted, once")
    time.sleep(1.1)  # the counts are cached for a second, as SQS's are eventually consistent
    check(counts(url) == (0, 0), f"the counts settle at zero ({counts(url)})")

    dlq = queue("dlq")
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    source = queue("redrive", RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}))
    for i in range(3):
        sqs.send_message(QueueUrl=source, MessageBody=f"r{i}")
    for _ in range(2):
        batch = receive(source)
        check(len(batch) == 3, "a redrive source serves all three until they pass maxReceiveCount")
        for m in batch:
            sqs.change_message_visibility(QueueUrl=source, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
    check(receive(source) == [], "a third receive moves them to the DLQ instead")
    check(sorted(m["Body"] for m in receive(dlq)) == ["r0", "r1", "r2"], "the DLQ holds all three")

    attributes_and_clock(source, dlq_arn)
    fifo = content_deduplication()
    delayed = delay()
    published = sns_bodies()
    filtered = sns_filter_policies()
    percent_decoding()
    receive_serialization()
    publish_batch_parsing()
    publish_batch_serialization()
    request_headers()
    concurrent_receives()
    deleted_messages_freed()
    loaded_twice()
    received_copies()
    consumer_fast_path()
    publish_batch_fast_path()
    request_id_in_body()

    for url in (url, dlq, source, fifo, delayed, published, *filtered):
        sqs.delete_queue(QueueUrl=url)
    if failures:
        sys.exit(f"{len(failures)} SQS behaviour(s) differ: {failures}")


def attributes_and_clock(source, dlq_arn):
    # The emulator computes a queue's attributes as they are read and reads the clock its own way.
    every = sqs.get_queue_attributes(QueueUrl=source, AttributeNames=["All"])["Attributes"]
    check({"QueueArn", "VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds",
           "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "CreatedTimestamp",
           "RedrivePolicy"} <= set(every) and "ContentBasedDeduplication" not in every,
          f"'All' names a standard queue's attributes and no FIFO one ({sorted(every)})")
    policy = json.loads(every["RedrivePolicy"])
    check(policy["deadLetterTargetArn"] == dlq_arn and int(policy["maxReceiveCount"]) == 2,
          "the redrive policy reads back as sent")
    some = sqs.get_queue_attributes(QueueUrl=source, AttributeNames=["VisibilityTimeout", "DelaySeconds"])
    check(some["Attributes"] == {"VisibilityTimeout": "30", "DelaySeconds": "0"},
          f"named attributes come back alone ({some['Attributes']})")
    url = queue("clock")
    sqs.send_message(QueueUrl=url, MessageBody="now")
    sent = sqs.receive_message(QueueUrl=url, AttributeNames=["SentTimestamp"])["Messages"][0]
    skew = abs(int(sent["Attributes"]["SentTimestamp"]) - time.time() * 1000)
    check(skew < 5_000, f"a message's SentTimestamp is the time it was sent ({skew:.0f} ms off)")
    sqs.delete_queue(QueueUrl=url)


def content_deduplication():
    url = sqs.create_queue(QueueName=f"parity-dedup-{uuid.uuid4().hex[:8]}.fifo",
                           Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
    for _ in range(2):
        sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    sqs.send_message(QueueUrl=url, MessageBody="other", MessageGroupId="g")
    got = [m["Body"] for m in receive(url)]
    check(got == ["same", "other"], f"a FIFO queue with content-based deduplication drops the copy ({got})")
    return url


def delay():
    url = queue("delay")
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=1)
    check(receive(url) == [], "a delayed message is not received before its delay")
    later = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5).get("Messages", [])
    check([m["Body"] for m in later] == ["later"], "a long poll receives it once the delay has passed")
    return url


def sns_bodies():
    # Every character class a percent-decoder can get wrong: escapes that look like escapes once decoded
    # (`%41`, `%2541`), backslashes and `\x` sequences, `+`, non-ASCII, and a large JSON body.
    bodies = ["%41 %2541 %% %zz %4", "\\x41 \\ \\%41 \\\\x4g", "a+b c&d=e", "é ü 東京 🚀",
              json.dumps({"recipients": [{"user_id": str(uuid.uuid4()), "quote": "\"%\\"}
                                         for _ in range(1000)]})]
    url = queue("sns")
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = sns.create_topic(Name=f"parity-{uuid.uuid4().hex[:8]}")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    sns.publish(TopicArn=topic, Message=bodies[0])
    sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
        {"Id": str(i), "Message": body} for i, body in enumerate(bodies[1:])])
    got = []
    while batch := receive(url):
        got += [m["Body"] for m in batch]
        for m in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    check(sorted(got) == sorted(bodies), "SNS delivers each message's body exactly as published")
    sns.delete_topic(TopicArn=topic)
    return url


def sns_filter_policies():
    # The emulator remembers each subscription's answer for a set of message attributes: the same
    # attributes published again, on two subscriptions with different policies, and after a policy
    # changes, must still reach exactly the queues whose policy matches.
    topic = sns.create_topic(Name=f"parity-{uuid.uuid4().hex[:8]}")["TopicArn"]
    urls, subscriptions = [], []
    for name, policy in (("paid", {"event_type": ["order.paid"]}),
                         ("placed", {"event_type": ["order.placed", "order.paid"]}),
                         ("email", {"event_type": ["order.paid"], "channel": ["email"]})):
        url = queue(f"filter-{name}")
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        subscriptions.append(sns.subscribe(
            TopicArn=topic, Protocol="sqs", Endpoint=arn, ReturnSubscriptionArn=True,
            Attributes={"RawMessageDelivery": "true", "FilterPolicyScope": "MessageAttributes",
                        "FilterPolicy": json.dumps(policy)})["SubscriptionArn"])
        urls.append(url)

    def publish(body, event_type, **more):
        # Every message also has an attribute no policy names, different each time (as the system's
        # correlation id is).
        attributes = {"correlation_id": {"DataType": "String", "StringValue": str(uuid.uuid4())},
                      "event_type": {"DataType": "String", "StringValue": event_type}}
        attributes.update({k: {"DataType": "String", "StringValue": v} for k, v in more.items()})
        sns.publish(TopicArn=topic, Message=body, MessageAttributes=attributes)

    def drained(url):
        got = []
        while batch := receive(url):
            got += [m["Body"] for m in batch]
            for m in batch:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return sorted(got)

    for i in range(3):
        publish(f"paid-{i}", "order.paid")
        publish(f"placed-{i}", "order.placed")
        publish(f"other-{i}", "order.completed")
    sns.publish(TopicArn=topic, Message="no-attributes")
    publish("paid-email", "order.paid", channel="email")
    publish("paid-sms", "order.paid", channel="sms")
    check(drained(urls[2]) == ["paid-email"], "a policy of two attributes needs both to match")
    check(drained(urls[0]) == ["paid-0", "paid-1", "paid-2", "paid-email", "paid-sms"],
          "a filter policy takes only its event type")
    check(drained(urls[1]) == sorted([f"{k}-{i}" for k in ("paid", "placed") for i in range(3)]
                                     + ["paid-email", "paid-sms"]),
          "a second policy on the same attributes answers for itself")
    sns.set_subscription_attributes(SubscriptionArn=subscriptions[0], AttributeName="FilterPolicy",
                                    AttributeValue=json.dumps({"event_type": ["order.completed"]}))
    publish("paid-again", "order.paid")
    publish("completed-again", "order.completed")
    check(drained(urls[0]) == ["completed-again"], "a changed policy is matched afresh")
    sns.delete_topic(TopicArn=topic)
    return urls


def percent_decoding():
    # What a client could send unencoded (a raw `\`, a stray `%`) never reaches the decoder through boto3,
    # so the decoder is also compared with Python's own on random strings of the characters that matter.
    from moto_server import _c_unquote_to_bytes, _unquote_to_bytes
    rng = random.Random(20261205)
    differ = [s for s in ("".join(rng.choice("%%%25aF9\\xgé+") for _ in range(rng.randint(0, 12)))
                          for _ in range(20_000))
              if _c_unquote_to_bytes(s) != _unquote_to_bytes(s)]
    check(differ == [], f"it decodes 20,000 random strings as Python does ({differ[:3]})")


def receive_serialization():
    # The emulator writes a receive's JSON itself (infra/emulator/moto_server.py): compared here with
    # moto's own serializer on every shape of result the system's messages take, both spellings of a
    # message attribute (SendMessage's and SNS's), unicode and JSON bodies, and none at all.
    from moto_server import _receive_json
    from moto.core.responses import XFormedAttributePicker
    from moto.core.serialize import get_serializer_class
    from moto.core.utils import get_service_model
    operation = get_service_model("sqs").operation_model("ReceiveMessage")
    serializer = get_serializer_class("sqs", "json")(
        operation_model=operation, pretty_print=False, value_picker=XFormedAttributePicker())

    def message(i, attributes):
        m = {"MessageId": str(uuid.uuid4()), "ReceiptHandle": "h" * 185, "MD5OfBody": "0" * 32,
             "Body": ["plain", "é 東京 🚀 \"quoted\" \\", json.dumps({"event": {"n": i}})][i % 3],
             "Attributes": {"SenderId": "AIDA", "SentTimestamp": str(1796534265512 + i),
                            "ApproximateReceiveCount": str(1 + i % 4),
                            "ApproximateFirstReceiveTimestamp": "1796534265618"}}
        if attributes:
            m["MessageAttributes"] = attributes
            m["MD5OfMessageAttributes"] = "1" * 32
        return m

    shapes = [{}, {"Messages": [message(0, None)]},
              {"Messages": [message(i, a) for i, a in enumerate([
                  {"event_type": {"DataType": "String", "StringValue": "order.placed"}},
                  {"event_type": {"data_type": "String", "string_value": "order.paid"},
                   "n": {"data_type": "Number", "string_value": "5"}},
                  None,
                  {"trace": {"DataType": "String.custom", "StringValue": "é"}}])]}]
    for result in shapes:
        generic = serializer.serialize(result)
        ours = _receive_json(result)
        check(ours is not None and json.loads(ours) == json.loads(generic["body"])
              and generic["headers"].get("Content-Type") == "application/x-amz-json-1.0",
              f"a receive of {len(result.get('Messages', []))} message(s) serialises as moto's serializer does")
    binary = {"Messages": [message(1, {"b": {"DataType": "Binary", "BinaryValue": b"\x00"}})]}
    check(_receive_json(binary) is None, "a binary attribute is left to moto's serializer")

    from moto_server import _delete_batch_json
    deletes = get_serializer_class("sqs", "json")(
        operation_model=get_service_model("sqs").operation_model("DeleteMessageBatch"), pretty_print=False,
        value_picker=XFormedAttributePicker())
    failed = {"Id": "b \"é\"", "SenderFault": True, "Code": "ReceiptHandleIsInvalid",
              "Message": 'The input receipt handle "zz" is not a valid receipt handle.'}
    for result in ({"Successful": [{"Id": "a"}, {"Id": "m-2"}], "Failed": []},
                   {"Successful": [{"Id": "a"}], "Failed": [failed]}, {"Successful": [], "Failed": [failed]}):
        ours = _delete_batch_json(result)
        check(ours is not None and ours == deletes.serialize(result)["body"],
              f"a batch delete's answer ({len(result['Successful'])} deleted, {len(result['Failed'])} failed) "
              "is written as moto's serializer writes it")
    check(_delete_batch_json({"Successful": [{"Id": 1}], "Failed": []}) is None,
          "a batch delete's answer of another shape is left to moto's serializer")


def publish_batch_parsing():
    # The emulator maps a `PublishBatch` form to its parameters itself (infra/emulator/moto_server.py):
    # compared here with moto's own query parser on the forms the relay sends and on the edges of the
    # format, fields in any order included; what it does not know it leaves to moto.
    from moto_server import _publish_batch_params
    from moto.core.parse import PROTOCOL_PARSERS
    from moto.core.utils import get_service_model
    from moto.sns.responses import SNSResponse
    from werkzeug.datastructures import MultiDict
    parser = PROTOCOL_PARSERS["query"](get_service_model("sns").operation_model("PublishBatch"),
                                       map_type=SNSResponse.PROTOCOL_PARSER_MAP_TYPE)
    topic = [("Action", "PublishBatch"), ("Version", "2010-03-31"), ("TopicArn", "arn:aws:sns:us-east-1:1:t")]

    def entry(n, message, attributes=(), **fields):
        e = f"PublishBatchRequestEntries.member.{n}."
        out = [(e + "Id", str(n)), (e + "Message", message)] + [(e + k, v) for k, v in fields.items()]
        for m, (name, kind, value) in enumerate(attributes, start=1):
            a = f"{e}MessageAttributes.entry.{m}."
            out += [(a + "Name", name), (a + "Value.DataType", kind), (a + "Value.StringValue", value)]
        return out

    relay = topic + [f for n in range(1, 11) for f in entry(
        n, json.dumps({"event": n, "text": "é 東京"}),
        [("event_type", "String", "order.placed"), ("correlation_id", "String", str(uuid.uuid4()))])]
    forms = {
        "the relay's ten entries with two attributes each": relay,
        "fields in another order": list(reversed(relay)),
        "entries without attributes, an empty message, a subject and FIFO fields": topic + entry(1, "")
        + entry(2, "b", Subject="s", MessageGroupId="g", MessageDeduplicationId="d",
                MessageStructure="json"),
        "a number attribute and a custom string type": topic + entry(
            1, "m", [("n", "Number", "5"), ("t", "String.custom", "x")]),
        "no entries": topic,
    }
    for what, fields in forms.items():
        generic = parser.parse({"method": "POST", "values": MultiDict(fields), "headers": {}, "body": b"",
                                "url_path": "/", "url_params": {}})
        check(_publish_batch_params(MultiDict(fields)) == generic,
              f"a PublishBatch form is read as moto's parser reads it: {what}")
    binary = topic + [("PublishBatchRequestEntries.member.1.Id", "1"),
                      ("PublishBatchRequestEntries.member.1.MessageAttributes.entry.1.Name", "b"),
                      ("PublishBatchRequestEntries.member.1.MessageAttributes.entry.1.Value.DataType", "Binary"),
                      ("PublishBatchRequestEntries.member.1.MessageAttributes.entry.1.Value.BinaryValue", "AAE=")]
    check(_publish_batch_params(MultiDict(binary)) is None, "a binary attribute is left to moto's parser")
    gap = topic + entry(1, "a") + entry(3, "c")
    check(_publish_batch_params(MultiDict(gap)) is None, "entries numbered with a gap are left to moto's parser")


def publish_batch_serialization():
    # The emulator writes a `PublishBatch` answer itself (infra/emulator/moto_server.py): compared here,
    # byte for byte, with moto's own serializer on the answers the relay gets and on ids that need
    # escaping; what it does not write (a failed entry, a FIFO sequence number, no entries) it leaves to
    # moto. The boto3 calls in `sns_bodies` read it as a client does.
    from moto_server import _publish_batch_xml
    from moto.core.responses import XFormedAttributePicker
    from moto.core.serialize import get_serializer_class
    from moto.core.utils import get_service_model
    serializer = get_serializer_class("sns", "query")(
        operation_model=get_service_model("sns").operation_model("PublishBatch"),
        pretty_print=False, value_picker=XFormedAttributePicker())

    def published(*ids):
        return {"Successful": [{"MessageId": str(uuid.uuid4()), "Id": i} for i in ids], "Failed": []}

    answers = {
        "the relay's ten entries": published(*(str(uuid.uuid4()) for _ in range(10))),
        "one entry": published("1"),
        "ids with characters XML escapes": published("a<b", "c&d", "e>f", "\"quoted\" 'é'"),
    }
    for what, result in answers.items():
        generic = serializer.serialize(result)
        check(_publish_batch_xml(result) == generic["body"] and generic["headers"] == {"Content-Type": "text/xml"},
              f"a PublishBatch answer serialises as moto's serializer does: {what}")
    failed = {"Successful": [], "Failed": [{"Id": "1", "Code": "InvalidParameter", "Message": "m",
                                            "SenderFault": True}]}
    check(_publish_batch_xml(failed) is None, "an answer with a failed entry is left to moto's serializer")
    fifo = {"Successful": [{"MessageId": "m", "Id": "1", "SequenceNumber": "1"}], "Failed": []}
    check(_publish_batch_xml(fifo) is None, "an answer with a sequence number is left to moto's serializer")
    check(_publish_batch_xml(published()) is None, "an answer without entries is left to moto's serializer")


def request_headers():
    # The emulator parses request headers itself when each is on one line; the email parser decides the
    # rest. Compared on what an SDK sends and on random blocks of the lines that parser treats specially.
    import email.parser
    import http.client
    import io
    from moto_server import _parse_headers, _stock_parse_headers

    def shape(message):
        return (message._headers, message._payload, message._unixfrom, [type(d) for d in message.defects],
                message.preamble, message.epilogue, message._default_type, type(message))

    def same(block):
        return shape(_parse_headers(io.BytesIO(block))) == shape(_stock_parse_headers(io.BytesIO(block)))

    sdk = (b"host: 127.0.0.1:4566\r\ncontent-type: application/x-amz-json-1.0\r\n"
           b"x-amz-target: AmazonSQS.ReceiveMessage\r\nx-amz-date: 20261207T010000Z\r\n"
           b"authorization: AWS4-HMAC-SHA256 Credential=test/20261207/us-east-1/sqs/aws4_request, "
           b"SignedHeaders=host;x-amz-date, Signature=00ff\r\ncontent-length: 120\r\n"
           b"amz-sdk-request: attempt=1; max=3\r\n\r\n")
    check(same(sdk) and _parse_headers(io.BytesIO(sdk + b"{}"))["Content-Length"] == "120",
          "an SDK's request headers parse as the standard library parses them")
    lines = [b"Host: a\r\n", b"X-Dup: 1\r\n", b"x-dup: 2\n", b"Empty:\r\n", b"Blank:  \t \r\n",
             b"Tab:\tv \r\n", b" folded\r\n", b"\tfolded\r\n", b"no colon\r\n", b": no name\r\n",
             b"From someone\r\n", b"From: a@b\r\n", b"Lone: a\rb\r\n", b"Latin: caf\xe9\r\n",
             b"Sp ace: x\r\n", b"Colon: a:b\r\n", b"Cut: short"]
    rng = random.Random(20261207)
    blocks = [b"".join(rng.choice(lines) for _ in range(rng.randint(0, 6))) + rng.choice([b"\r\n", b"\n", b""])
              for _ in range(5_000)]
    differ = [b for b in blocks if not same(b)]
    check(differ == [], f"5,000 random header blocks parse as the standard library parses them ({differ[:3]})")
    check(http.client.parse_headers is _parse_headers, "the HTTP server's parser is the emulator's")

    def without_email_parser(block):
        stock, email.parser.Parser = email.parser.Parser, None
        try:
            _parse_headers(io.BytesIO(block))
            return True
        except TypeError:
            return False
        finally:
            email.parser.Parser = stock

    fast = sum(without_email_parser(b) for b in blocks)
    check(without_email_parser(sdk) and 0 < fast < len(blocks),
          f"an SDK's headers, and {fast:,} of the random blocks, are parsed without the email parser")


def in_process_queue(prefix, **attributes):
    """A fresh queue in this process's own moto, with the emulator's patches loaded: the backend and the
    queue's name."""
    from moto.sqs.models import sqs_backends
    import moto_server  # noqa: F401  (patches moto in this process)

    backend = sqs_backends["123456789012"]["us-east-1"]
    name = f"parity-{prefix}-{uuid.uuid4().hex[:8]}"
    backend.create_queue(name, **attributes)
    return backend, name


def concurrent_receives():
    # The emulator's server runs each request on a thread of its own, and five pollers per mapping receive
    # from one queue at once. In process, with the interpreter switching threads as often as it can, five
    # threads receive and delete 500 messages: each must be handed out once, and no call may fail.
    # (Without the emulator's lock: 30 duplicates and 19 failed calls in one such run.)
    import collections
    import threading

    backend, name = in_process_queue("concurrent", VisibilityTimeout="30")
    for i in range(500):
        backend.send_message(name, str(i))
    received, failed = collections.Counter(), []

    def consume():
        while True:
            try:
                messages = backend.receive_message(name, 10, 0, 30)
                for message in messages:
                    received[message.body] += 1
                for message in messages:
                    backend.delete_message(name, message.receipt_handle)
            except Exception as error:  # noqa: BLE001  (counted and reported below)
                failed.append(repr(error))
                continue
            if not messages:
                return

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=consume) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        sys.setswitchinterval(interval)
    twice = sum(1 for n in received.values() if n > 1)
    check(len(received) == 500 and twice == 0 and not failed,
          f"five concurrent receivers get each of 500 messages once, no call failing "
          f"({len(received)} received, {twice} twice, failures {sorted(set(failed))[:2]})")
    backend.delete_queue(name)


def deleted_messages_freed():
    # moto kept every message, and every copy a receive returned, in a class-wide list for its dashboard;
    # the emulator frees a message once it is deleted and its receive answered.
    import gc
    import weakref
    from moto.sqs.models import Message

    backend, name = in_process_queue("freed")
    backend.send_message(name, "kept until deleted")
    (original,) = [weakref.ref(m) for m in backend.get_queue(name)._messages]
    (copy,) = backend.receive_message(name, 10, 0, 30)
    received = weakref.ref(copy)
    check(original() is not None, "a message is kept while it is in its queue")
    backend.delete_message(name, copy.receipt_handle)
    del copy
    gc.collect()
    check(original() is None and received() is None and not Message.instances_tracked,
          "a deleted message and the copy its receive returned are freed")
    backend.delete_queue(name)


def loaded_twice():
    # The emulator bench loads the patches from their file next to an imported copy, which wraps moto's
    # receive a second time; both wrappers take the queue's lock, so it must be re-entrant.
    import importlib.util
    import pathlib
    import threading

    backend, name = in_process_queue("twice")
    spec = importlib.util.spec_from_file_location("moto_server_again", pathlib.Path(sys.modules["moto_server"].__file__))
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    backend.send_message(name, "once")
    got = []
    receiver = threading.Thread(target=lambda: got.extend(backend.receive_message(name, 10, 0, 30)), daemon=True)
    receiver.start()
    receiver.join(timeout=10)
    check([m.body for m in got] == ["once"], "with the patches loaded twice a receive still answers")
    if not receiver.is_alive():
        backend.delete_queue(name)


def received_copies():
    # moto's receive returns a copy of each message with only the asked-for message attributes; the
    # emulator's copy shares what moto never changes in place instead of deep-copying it. Compared with a
    # deep copy filtered the same way.
    import copy
    from moto.sqs.models import _filter_message_attributes

    backend, name = in_process_queue("copies", VisibilityTimeout="0")
    attributes = {"event_type": {"DataType": "String", "StringValue": "order.paid"},
                  "total": {"DataType": "Number", "StringValue": "12"}}
    backend.send_message(name, "with attributes", message_attributes=attributes)
    (original,) = backend.get_queue(name)._messages
    (received,) = backend.receive_message(name, 10, 0, 0, ["event_type"])
    expected = copy.deepcopy(original)
    _filter_message_attributes(expected, ["event_type"])
    check(vars(received) == vars(expected) and set(received.message_attributes) == {"event_type"}
          and set(original.message_attributes) == {"event_type", "total"},
          "a received copy holds what a deep copy holds, filtered, and the queue's message keeps every attribute")
    handles = list(received.all_receipt_handles)
    backend.receive_message(name, 10, 0, 0, ["All"])
    check(received.all_receipt_handles == handles and len(original.all_receipt_handles) == len(handles) + 1,
          "receiving the message again leaves an earlier copy's receipt handles as they were")
    backend.delete_queue(name)


def both_ways(moto_server):
    """Two in-process clients of one moto web application: through the emulator's dispatch (the way around
    Flask) and through moto's own. Named by the module's functions, not the class's method, which another
    load of the patches (`loaded_twice`) replaces."""
    from werkzeug.test import Client
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    dispatcher = DomainDispatcherApplication(create_backend_app)
    return (Client(lambda environ, start: moto_server._without_flask_first(dispatcher, environ, start)),
            Client(lambda environ, start: moto_server._dispatch(dispatcher, environ, start)))


def masked_headers(answer):
    """An in-process answer's headers, its random request id masked."""
    return [(k, "*" if k.lower() == "x-amzn-requestid" else v) for k, v in answer.headers.items()]


def plain_environ(body, headers, **extra):
    """The WSGI environ of a POST to `/`, for asking the emulator whether it would go around Flask."""
    from werkzeug.test import EnvironBuilder
    return EnvironBuilder(method="POST", path="/", data=body, headers=headers, **extra).get_environ()


def counting_without_flask(moto_server):
    """Counts the requests answered without Flask until `stop()` is called: (list of calls, stop)."""
    calls, real = [], moto_server._without_flask
    moto_server._without_flask = lambda *args: calls.append(args[1].__class__.__name__) or real(*args)

    def stop():
        moto_server._without_flask = real
    return calls, stop


def consumer_fast_path():
    # The emulator answers a consumer's ReceiveMessage and DeleteMessageBatch without Flask
    # (infra/emulator/moto_server.py). The same requests go to two queues with the same messages, one
    # through that path and one the whole way through moto's web application; the answers (status,
    # headers, body), once each queue's own ids, handles and times are masked, and what is left in each
    # queue must be the same.
    import moto_server

    fast, whole = both_ways(moto_server)
    authorization = ("AWS4-HMAC-SHA256 Credential=test/20261207/us-east-1/sqs/aws4_request, "
                     "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0")

    def headers(action):
        return {"Authorization": authorization, "Host": "127.0.0.1:4566", "X-Amz-Target": f"AmazonSQS.{action}",
                "Content-Type": "application/x-amz-json-1.0", "X-Amz-Date": "20261207T000000Z"}

    def post(client, action, params):
        answer = client.post("/", data=json.dumps(params), headers=headers(action))
        return answer.status_code, masked_headers(answer), answer.data

    def masked(answer):
        status, header_list, data = answer
        body = json.loads(data) if data else None
        for message in (body or {}).get("Messages", []) if isinstance(body, dict) else []:
            message["MessageId"] = message["ReceiptHandle"] = "*"
            for name in ("SentTimestamp", "ApproximateFirstReceiveTimestamp"):
                if name in message.get("Attributes", {}):
                    message["Attributes"][name] = "*"
        return status, header_list, body

    urls = [json.loads(post(fast, "CreateQueue", {"QueueName": f"parity-fast-{side}-{uuid.uuid4().hex[:8]}"})[2])["QueueUrl"]
            for side in ("a", "b")]
    attributes = {"event_type": {"DataType": "String", "StringValue": "order.paid"},
                  "n": {"DataType": "Number", "StringValue": "3"}}
    for url in urls:
        for i in range(14):
            post(fast, "SendMessage", {"QueueUrl": url, "MessageBody": json.dumps({"n": i, "text": "é 東京"}),
                                       **({"MessageAttributes": attributes} if i % 2 else {})})
    received = {}

    def both(what, action, params, keep=None):
        answers = []
        for client, url in zip((fast, whole), urls):
            answer = post(client, action, {**params(url), "QueueUrl": url})
            if keep is not None:
                received[url] = keep(answer)
            answers.append(answer)
        check(masked(answers[0]) == masked(answers[1]), f"{what}: the same answer with and without Flask")

    handles = lambda answer: [m["ReceiptHandle"] for m in json.loads(answer[2]).get("Messages", [])]
    calls, stop = counting_without_flask(moto_server)
    both("a poller's receive of ten, every attribute", "ReceiveMessage",
         lambda url: {"MaxNumberOfMessages": 10, "WaitTimeSeconds": 0, "MessageSystemAttributeNames": ["All"],
                      "MessageAttributeNames": ["All"]}, keep=handles)
    both("a receive by attribute names with a visibility timeout", "ReceiveMessage",
         lambda url: {"MaxNumberOfMessages": 3, "VisibilityTimeout": 0, "AttributeNames": ["ApproximateReceiveCount"],
                      "MessageAttributeNames": ["event_type"]})
    both("a receive of too many", "ReceiveMessage", lambda url: {"MaxNumberOfMessages": 11})
    both("a receive from a queue that does not exist", "ReceiveMessage",
         lambda url: {"QueueUrl": url + "-gone", "MaxNumberOfMessages": 1})
    both("a batch delete with a bogus handle", "DeleteMessageBatch",
         lambda url: {"Entries": [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(received[url][:4])]
                      + [{"Id": "bogus", "ReceiptHandle": "not-a-handle"}]})
    both("a batch delete", "DeleteMessageBatch",
         lambda url: {"Entries": [{"Id": f"m{i}", "ReceiptHandle": h} for i, h in enumerate(received[url][4:])]})
    both("an empty batch delete", "DeleteMessageBatch", lambda url: {"Entries": []})
    both("a batch delete naming one handle twice", "DeleteMessageBatch",
         lambda url: {"Entries": [{"Id": "x", "ReceiptHandle": "h"}, {"Id": "y", "ReceiptHandle": "h"}]})
    both("what is left in each queue", "ReceiveMessage",
         lambda url: {"MaxNumberOfMessages": 10, "VisibilityTimeout": 0, "MessageAttributeNames": ["All"]})
    stop()
    check(calls == ["SQSResponse"] * 9, f"each of the nine took the path without Flask on its first side ({len(calls)})")

    def taken(action, params, **extra):
        environ = plain_environ(json.dumps(params), headers(action), **extra)
        return moto_server._consumer_answer(environ, moto_server._CONSUMER_ACTIONS[f"AmazonSQS.{action}"]) is not None

    receive = {"QueueUrl": urls[0], "MaxNumberOfMessages": 10, "WaitTimeSeconds": 0}
    check(taken("ReceiveMessage", receive) and taken("DeleteMessageBatch", {"QueueUrl": urls[0], "Entries": []}),
          "a poller's receive and delete take the path without Flask")
    check(not any([taken("ReceiveMessage", {**receive, "ReceiveRequestAttemptId": "a"}),
                   taken("ReceiveMessage", {**receive, "MaxNumberOfMessages": True}),
                   taken("ReceiveMessage", {**receive, "MaxNumberOfMessages": "10"}),
                   taken("ReceiveMessage", {**receive, "QueueUrl": urls[0] + "?a&b"}),
                   taken("ReceiveMessage", receive, query_string="x=1"),
                   taken("DeleteMessageBatch", {"QueueUrl": urls[0], "Entries": [{"Id": "x", "ReceiptHandle": 1}]})]),
          "any other parameter, type, a query string or a body with & goes through Flask")
    for url in urls:
        post(fast, "DeleteQueue", {"QueueUrl": url})


def publish_batch_fast_path():
    # The emulator runs the relay's PublishBatch without Flask too (infra/emulator/moto_server.py). The
    # same batches go to two topics with the same subscriptions (raw with the template's kind of filter
    # policy, and enveloped), one through that path and one the whole way: the answers (ids masked) and
    # what each subscribed queue then holds must be the same.
    import urllib.parse
    import moto_server
    from moto.sns.models import sns_backends
    from moto.sqs.models import sqs_backends

    clients = both_ways(moto_server)
    headers = {"Authorization": "AWS4-HMAC-SHA256 Credential=test/20261207/us-east-1/sns/aws4_request, "
                                "SignedHeaders=host, Signature=0", "Host": "127.0.0.1:4566",
               "Content-Type": "application/x-www-form-urlencoded"}
    sns_backend, sqs_backend = sns_backends["123456789012"]["us-east-1"], sqs_backends["123456789012"]["us-east-1"]
    sides = []
    for side in ("fast", "whole"):
        topic = sns_backend.create_topic(f"parity-publish-{side}-{uuid.uuid4().hex[:8]}").arn
        queues = []
        for raw in (True, False):
            name = f"parity-publish-{side}-{'raw' if raw else 'env'}-{uuid.uuid4().hex[:8]}"
            sqs_backend.create_queue(name)
            attributes = {"RawMessageDelivery": "true", "FilterPolicy": json.dumps({"event_type": ["order.placed"]}),
                          "FilterPolicyScope": "MessageAttributes"} if raw else {}
            arn = sns_backend.subscribe(topic, f"arn:aws:sqs:us-east-1:123456789012:{name}", "sqs").arn
            for key, value in attributes.items():
                sns_backend.set_subscription_attributes(arn, key, value)
            queues.append(name)
        sides.append((topic, queues))

    def form(topic, entries, **extra):
        fields = {"Action": "PublishBatch", "Version": "2010-03-31", "TopicArn": topic, **extra}
        for n, (identifier, message, event_type) in enumerate(entries, start=1):
            e = f"PublishBatchRequestEntries.member.{n}."
            fields.update({e + "Id": identifier, e + "Message": message})
            if event_type:
                a = e + "MessageAttributes.entry."
                fields.update({a + "1.Name": "event_type", a + "1.Value.DataType": "String",
                               a + "1.Value.StringValue": event_type, a + "2.Name": "correlation_id",
                               a + "2.Value.DataType": "String", a + "2.Value.StringValue": f"correlation-{identifier}"})
        return urllib.parse.urlencode(fields)

    def masked(answer):
        text = answer.get_data(as_text=True)
        for pattern in (r"<MessageId>[^<]*</MessageId>", r"<RequestId>[^<]*</RequestId>"):
            text = re.sub(pattern, "*", text)
        return answer.status_code, masked_headers(answer), text

    relay = [(f"e{n}", json.dumps({"n": n, "text": "é 東京 & = %"}), "order.placed" if n % 3 else "order.paid")
             for n in range(10)]
    batches = {
        "the relay's batch of ten, two attributes each": lambda topic: form(topic, relay),
        "a batch without attributes": lambda topic: form(topic, [("a", "one", None), ("b", "two", None)]),
        "a batch to a topic that does not exist": lambda topic: form(topic + "-gone", relay[:2]),
        "a batch of eleven": lambda topic: form(topic, relay + [("e10", "x", None)]),
        "a batch naming one id twice": lambda topic: form(topic, [("a", "one", None), ("a", "two", None)]),
        "an empty batch": lambda topic: form(topic, []),
    }
    calls, stop = counting_without_flask(moto_server)
    for what, body in batches.items():
        answers = [masked(client.post("/", data=body(topic), headers=headers)) for client, (topic, _) in zip(clients, sides)]
        check(answers[0] == answers[1], f"{what}: the same answer with and without Flask")
    stop()
    check(calls == ["SNSResponse"] * len(batches),
          f"each of the {len(batches)} batches took the path without Flask on its first side ({len(calls)})")

    def held(name):
        out = []
        for message in sqs_backend.receive_message(name, 10, 0, 30, ["All"]) + sqs_backend.receive_message(name, 10, 0, 30, ["All"]):
            body = message.body
            if body.startswith("{") and "TopicArn" in body:
                envelope = json.loads(body)
                body = {k: envelope.get(k) for k in ("Type", "Message", "MessageAttributes", "Subject")}
            out.append((body, message.message_attributes))
        return out

    fast_held, whole_held = ([held(name) for name in queues] for _, queues in sides)
    check(fast_held == whole_held and len(fast_held[0]) == 6 and len(fast_held[1]) == 12,
          "the subscribed queues hold the same messages and attributes with and without Flask "
          f"({[len(q) for q in fast_held]} against {[len(q) for q in whole_held]})")

    def taken(body, **extra):
        return moto_server._publish_batch_answer(plain_environ(body, headers, **extra)) is not None

    topic = sides[0][0]
    check(taken(form(topic, relay[:1])), "the relay's PublishBatch takes the path without Flask")
    binary = form(topic, [("a", "x", None)]) + "&PublishBatchRequestEntries.member.1.MessageAttributes.entry.1.Name=b" \
        "&PublishBatchRequestEntries.member.1.MessageAttributes.entry.1.Value.DataType=Binary" \
        "&PublishBatchRequestEntries.member.1.MessageAttributes.entry.1.Value.BinaryValue=AAE%3D"
    check(not any([taken(binary), taken(form(topic, relay[:1]), query_string="x=1"),
                   taken(urllib.parse.urlencode({"Action": "Publish", "TopicArn": topic, "Message": "m"})),
                   taken(b"Action=PublishBatch&TopicArn=\xff")]),
          "a binary attribute, a query string, another action or a body that is not UTF-8 goes through Flask")
    for topic, queues in sides:
        sns_backend.delete_topic(topic)
        for name in queues:
            sqs_backend.delete_queue(name)


def request_id_in_body():
    # The emulator skips moto's search for `<RequestId>` in an answer that has none
    # (infra/emulator/moto_server.py); compared with moto's own on each kind of answer body.
    import moto_server
    stock = moto_server._enrich_response
    bodies = ['{"Messages": []}', "", "<A><RequestId>x</RequestId></A>", "<A><RequestId></RequestId>",
              "<A>RequestId</A>", b"<RequestId>x</RequestId>", None, '{"RequestId": "<RequestId"}']
    same = []
    for body in bodies:
        answers = []
        for enrich in (stock, moto_server._enrich_found_request_id):
            headers, out = enrich({"status": 400, "server": "amazon.com"}, body)
            request_id = headers["x-amzn-requestid"]
            answers.append(({**headers, "x-amzn-requestid": len(request_id)},
                            out.replace(request_id, "*") if isinstance(out, str) else out))
        same.append(answers[0] == answers[1])
    check(all(same), f"an answer's request id is put in its body as moto puts it ({same})")


if __name__ == "__main__":
    main()
