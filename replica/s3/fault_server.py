#!/usr/bin/env python3
"""A fault-injecting proxy in front of an S3 server, for tests.

    fault_server.py UPSTREAM CONTROL

Listens on a free port of 127.0.0.1, prints "PORT n" and forwards every
request to UPSTREAM (http://host:port) unchanged, Host header included, so
SigV4 signatures stay valid. Before each request it reads CONTROL, lines of

    SUBSTRING FAULT COUNT

and applies FAULT to the next COUNT requests whose "METHOD PATH?QUERY"
contains SUBSTRING (COUNT is decremented in the file). FAULTs: 503
(SlowDown), 500 (InternalError), 409 (OperationAborted), expired (400
ExpiredToken), denied (403 AccessDenied), truncate (half the body, then
the connection closed), drop (the connection closed, no answer), slow (3 s
of silence first), garbage (200 with a body that is not XML).
"""

import http.client
import os
import http.server
import sys
import threading
import time
import urllib.parse

UPSTREAM = urllib.parse.urlparse(sys.argv[1])
CONTROL = sys.argv[2]
LOCK = threading.Lock()

ERRORS = {
    "503": (503, "SlowDown"),
    "500": (500, "InternalError"),
    "409": (409, "OperationAborted"),
    "expired": (400, "ExpiredToken"),
    "denied": (403, "AccessDenied"),
}


def take_fault(request_line):
    """The fault for this request (and one fewer left), or None."""
    with LOCK:
        try:
            with open(CONTROL) as f:
                lines = [line.split() for line in f if line.strip()]
        except FileNotFoundError:
            return None
        fault = None
        for parts in lines:
            if fault is None and parts[0] in request_line and int(parts[2]) > 0:
                fault = parts[1]
                parts[2] = str(int(parts[2]) - 1)
        with open(CONTROL + ".new", "w") as f:
            f.writelines(" ".join(p) + "\n" for p in lines)
        os.replace(CONTROL + ".new", CONTROL)
        return fault


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, status, body, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self):
        length = int(self.headers.get("Content-Length", 0) or 0)
        body = self.rfile.read(length) if length else b""
        fault = take_fault(f"{self.command} {self.path}")
        if fault in ERRORS:
            status, code = ERRORS[fault]
            xml = (f"<?xml version='1.0'?><Error><Code>{code}</Code>"
                   f"<Message>injected</Message></Error>").encode()
            self._answer(status, xml, [("Content-Type", "application/xml")])
            return
        if fault == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if fault == "garbage":
            self._answer(200, b"<ListBucketResult><Contents><Key>x</Key")
            return
        if fault == "slow":
            time.sleep(3)
        conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port)
        headers = {k: v for k, v in self.headers.items()}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("content-length", "connection",
                                 "transfer-encoding"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if fault == "truncate" and len(data) > 1:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
