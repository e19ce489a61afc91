#!/usr/bin/env python3
"""The local WebSocket management API through boto3: a client that shares no code with ours.

The Rust end-to-end suite (tests/tests/connections.rs) checks each case through aws-sdk-apigatewaymanagement;
this makes the same calls through botocore's own model and wire code, so a wire-format slip that both sides
of our Rust code agree on still fails here. Needs the local stack (`make test` runs it); exits non-zero on the
first mismatch.
"""

import json
import os
import sys
import urllib.request
import uuid

import boto3
import websocket  # websocket-client
from botocore.config import Config

API = f"http://127.0.0.1:{os.environ.get('ORDERLY_API_PORT', '3000')}"
WS = f"ws://127.0.0.1:{os.environ.get('ORDERLY_WS_PORT', '3001')}"
MAX_MESSAGE = 128 * 1024
USER_AGENT = "orderly-parity-boto3"
# A client address of its own: per-IP login limits are shared with the other suites.
CLIENT_IP = f"198.250.{os.getpid() % 250}.{uuid.uuid4().int % 250}"


def call(method, path, body=None, token=None):
    request = urllib.request.Request(f"{API}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode())
    request.add_header("content-type", "application/json")
    request.add_header("x-forwarded-for", CLIENT_IP)
    if token:
        request.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def connect():
    email = f"parity-{uuid.uuid4().hex}@example.test"
    password = "a long enough password"
    call("POST", "/api/v1/users", {"email": email, "password": password, "name": "Parity"})
    token = call("POST", "/api/v1/auth/login", {"email": email, "password": password})["access_token"]
    ticket = call("POST", "/api/v1/ws/ticket", token=token)["ticket"]
    socket = websocket.create_connection(f"{WS}/?ticket={ticket}", timeout=10,
                                         header=[f"User-Agent: {USER_AGENT}"])
    socket.send(json.dumps({"action": "ping"}))
    pong = json.loads(socket.recv())
    check(pong.get("type") == "pong", f"ping answers pong: {pong}")
    return socket, pong["connection_id"]


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        sys.exit(1)


def error_code(call_it):
    try:
        call_it()
    except Exception as e:  # botocore's ClientError carries the service's error code
        return getattr(e, "response", {}).get("Error", {}).get("Code", type(e).__name__)
    return None


def main():
    management = boto3.client(
        "apigatewaymanagementapi", endpoint_url=WS.replace("ws://", "http://"),
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}))
    socket, connection = connect()

    described = management.get_connection(ConnectionId=connection)
    check(described["Identity"]["SourceIp"] == "127.0.0.1", "GetConnection: Identity.SourceIp")
    check(described["Identity"]["UserAgent"] == USER_AGENT, "GetConnection: Identity.UserAgent")
    check(described["LastActiveAt"] >= described["ConnectedAt"],
          "GetConnection: ConnectedAt and LastActiveAt parse as timestamps")

    management.post_to_connection(ConnectionId=connection, Data=b'{"type":"hello"}')
    check(json.loads(socket.recv()) == {"type": "hello"}, "PostToConnection delivers the bytes as sent")
    check(error_code(lambda: management.post_to_connection(
        ConnectionId=connection, Data=b"x" * (MAX_MESSAGE + 1))) == "PayloadTooLargeException",
        "PostToConnection over 128 KB: PayloadTooLargeException")

    management.delete_connection(ConnectionId=connection)
    for name, operation in [
        ("PostToConnection", lambda: management.post_to_connection(ConnectionId=connection, Data=b"{}")),
        ("GetConnection", lambda: management.get_connection(ConnectionId=connection)),
        ("DeleteConnection", lambda: management.delete_connection(ConnectionId=connection)),
    ]:
        check(error_code(operation) == "GoneException", f"{name} after DeleteConnection: GoneException")
    opcode, frame = socket.recv_data(control_frame=True)
    check(opcode == websocket.ABNF.OPCODE_CLOSE, "the deleted connection's socket is closed")
    check(error_code(lambda: management.get_connection(ConnectionId="AAAAAAAAAAAAAAAA"))
          == "GoneException", "GetConnection of an id never seen: GoneException")
    print("boto3 parity: all checks passed")


if __name__ == "__main__":
    main()
