#!/usr/bin/env python3
"""A webhook receiver on loopback for tests/test_channel_webhook.c.

Usage: http_server.py PORT_FILE LOG_FILE SECRET

Listens on 127.0.0.1 on a port the OS picks and writes that port to
PORT_FILE once it is listening (written whole, then renamed into place).
Every POST appends one JSON line to LOG_FILE before it is answered, so a
test that got its answer can read the line:

    {"path", "headers": {lower-case name: value or null},
     "body" (text), "signature_valid", "count", "request_id"}

signature_valid is this server's own verdict: it computes HMAC-SHA256(SECRET,
timestamp + "." + raw body) with Python's hmac module and compares it with
X-Kizuna-Signature in constant time. count is how many requests carried
this Idempotency-Key so far, this one included.

The path picks the answer:
    /ok        200 with an X-Request-Id
    /flaky     503 with Retry-After: 2 for a key's first two requests, then 200
    /busy      429 with Retry-After as an HTTP date two minutes ahead
    /bad       400 with a body longer than an error message quotes
    /gone      410
    /slow      200, after sleeping 3 s
    /steady    200, after sleeping 20 ms (a receiver that takes a moment)
    /redirect  302 to /ok
    otherwise  404

Exits with status 0 on SIGTERM, and by itself when the process that
started it goes away (a test that crashed cannot leave it running).
"""

import email.utils
import hashlib
import hmac
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

SLOW_SECONDS = 3
LOGGED_HEADERS = (
    "content-type",
    "idempotency-key",
    "x-kizuna-timestamp",
    "x-kizuna-signature",
    "user-agent",
    "expect",
)


class Receiver:
    """What the handlers share: the secret, the log and the counts per key."""

    def __init__(self, secret, log_path):
        self.secret = secret.encode()
        self.log_path = log_path
        self.lock = threading.Lock()
        self.counts = {}

    def count(self, key):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1
            return self.counts[key]

    def signature_valid(self, timestamp, signature, body):
        if timestamp is None or signature is None:
            return False
        mac = hmac.new(self.secret, timestamp.encode() + b"." + body, hashlib.sha256)
        expected = ("sha256=" + mac.hexdigest()).encode()
        return hmac.compare_digest(expected, signature.encode("latin-1", "replace"))

    def log(self, entry):
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self.lock, open(self.log_path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()


def route(path, count, request_id):
    """(status, extra headers, body text, delay in seconds) for `path`."""
    ok = (200, {"X-Request-Id": request_id}, '{"ok":true}', 0)
    if path == "/ok":
        return ok
    if path == "/flaky":
        return (503, {"Retry-After": "2"}, "busy, try again", 0) if count <= 2 else ok
    if path == "/busy":
        later = email.utils.formatdate(time.time() + 120, usegmt=True)
        return 429, {"Retry-After": later}, "rate limited", 0
    if path == "/bad":
        return 400, {}, "bad request: " + "x" * 300, 0
    if path == "/gone":
        return 410, {}, "this hook was deleted", 0
    if path == "/slow":
        return ok[:3] + (SLOW_SECONDS,)
    if path == "/steady":
        return ok[:3] + (0.02,)
    if path == "/redirect":
        return 302, {"Location": "/ok"}, "", 0
    return 404, {}, "no such hook", 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do

    def do_POST(self):
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        key = self.headers.get("Idempotency-Key")
        count = receiver.count(key)
        request_id = "req-%s-%d" % (key, count)
        path = urlsplit(self.path).path
        status, headers, text, delay = route(path, count, request_id)
        receiver.log({
            "path": path,
            "headers": {name: self.headers.get(name) for name in LOGGED_HEADERS},
            "body": body.decode("utf-8", "replace"),
            "signature_valid": receiver.signature_valid(
                self.headers.get("X-Kizuna-Timestamp"), self.headers.get("X-Kizuna-Signature"), body),
            "count": count,
            "request_id": request_id if status == 200 else None,
        })
        time.sleep(delay)
        self.answer(status, headers, text)

    def answer(self, status, headers, text):
        data = text.encode()
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the /slow test): nothing to answer

    def log_message(self, format, *args):
        pass  # the log file is the record; keep the test's output quiet


def exit_when_orphaned(parent):
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(0)


def write_port(path, port):
    with open(path + ".tmp", "w") as f:
        f.write("%d\n" % port)
    os.rename(path + ".tmp", path)


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: http_server.py PORT_FILE LOG_FILE SECRET")
    port_file, log_file, secret = sys.argv[1:]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.receiver = Receiver(secret, log_file)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    threading.Thread(target=exit_when_orphaned, args=(os.getppid(),), daemon=True).start()
    write_port(port_file, server.server_address[1])
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
