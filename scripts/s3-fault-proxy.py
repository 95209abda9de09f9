#!/usr/bin/env python3
"""A fault-injecting, latency-adding HTTP(S) proxy for an S3-compatible server on loopback.

Used by the S3 fault tests (pipeline-cli/tests/e2e/s3_faults.rs) and bench/s3.py. Python 3.11
standard library only. It listens on 127.0.0.1, forwards each request to the upstream server
(one upstream connection per request) and, by a fixed schedule over the request count, answers
instead:

  --every-503 N     every Nth request: 503 Service Unavailable (S3 XML error body)
  --every-429 N     every Nth request: 429 SlowDown
  --every-reset N   every Nth request: the connection is reset before any response
  --every-cut N     every Nth GET (objects and listings): the headers and half the body, then
                    the connection closes (a body cut mid-way)
  --every-slow N    every Nth request: the body is sent in 8 pieces, --slow-ms apart
  --latency-ms MS   added before every request is forwarded (a server one network hop away)
  --fail-path TEXT  every request whose path contains TEXT: 503, always (faults that never stop)

Bounded: it exits after --max-requests requests or --max-seconds seconds, whichever comes
first. With --tls-cert/--tls-key it speaks HTTPS (for the private-CA test). It prints
`PORT <n>` on stdout once listening, and keeps counts in --stats FILE (JSON, rewritten after
every request).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import ssl
import struct
import sys

COUNTS = {"requests": 0, "503": 0, "429": 0, "reset": 0, "cut": 0, "slow": 0, "forwarded": 0,
          "fail_path": 0, "object_gets": 0}


def error_body(code: str, message: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{message}</Message><RequestId>fault-proxy</RequestId></Error>").encode()


async def read_head(reader: asyncio.StreamReader) -> bytes | None:
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def without_connection_header(head: bytes) -> bytes:
    lines = [ln for ln in head.rstrip(b"\r\n").split(b"\r\n")
             if not ln.lower().startswith(b"connection:")]
    return b"\r\n".join(lines + [b"Connection: close"]) + b"\r\n\r\n"


async def forward(args, head: bytes, body: bytes) -> tuple[bytes, bytes]:
    """Sends the request upstream and returns (response head, response body)."""
    r, w = await asyncio.open_connection(args.upstream_host, args.upstream_port)
    try:
        w.write(without_connection_header(head) + body)
        await w.drain()
        resp_head = await r.readuntil(b"\r\n\r\n")
        n = content_length(resp_head)
        method = head.split(b" ", 1)[0]
        if method == b"HEAD":
            resp_body = b""
        elif any(ln.lower().startswith(b"content-length:") for ln in resp_head.split(b"\r\n")):
            resp_body = await r.readexactly(n)
        else:
            resp_body = await r.read()
        return resp_head, resp_body
    finally:
        w.close()


def reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


def save_stats(args) -> None:
    if args.stats:
        with open(args.stats + ".tmp", "w") as f:
            json.dump(COUNTS, f)
        import os
        os.replace(args.stats + ".tmp", args.stats)


async def handle(args, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, done):
    try:
        while True:
            head = await read_head(reader)
            if head is None:
                break
            body = await reader.readexactly(content_length(head))
            COUNTS["requests"] += 1
            n = COUNTS["requests"]
            if n >= args.max_requests:
                done.set()
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            method, path = request_line.split(" ")[:2]
            # GETs of objects (whole or ranges), listings (`?list-type=2`) apart.
            if method == "GET" and "list-type=" not in path:
                COUNTS["object_gets"] += 1
            if args.latency_ms:
                await asyncio.sleep(args.latency_ms / 1000)
            every = lambda k: k > 0 and n % k == 0  # noqa: E731
            if args.fail_path and args.fail_path in path:
                COUNTS["fail_path"] += 1
                status, reason, xml = 503, "Service Unavailable", error_body(
                    "ServiceUnavailable", "injected, always")
            elif every(args.every_503):
                COUNTS["503"] += 1
                status, reason, xml = 503, "Service Unavailable", error_body(
                    "ServiceUnavailable", "injected")
            elif every(args.every_429):
                COUNTS["429"] += 1
                status, reason, xml = 429, "Too Many Requests", error_body(
                    "SlowDown", "Please reduce your request rate.")
            elif every(args.every_reset):
                COUNTS["reset"] += 1
                save_stats(args)
                reset(writer)
                return
            else:
                status = None
            if status is not None:
                writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\n"
                             f"Content-Length: {len(xml)}\r\n\r\n".encode() + xml)
                await writer.drain()
                save_stats(args)
                continue
            resp_head, resp_body = await forward(args, head, body)
            COUNTS["forwarded"] += 1
            lines = [ln for ln in resp_head.rstrip(b"\r\n").split(b"\r\n")
                     if not ln.lower().startswith((b"connection:", b"transfer-encoding:",
                                                   b"content-length:"))]
            if method != "HEAD":
                lines.append(f"Content-Length: {len(resp_body)}".encode())
            else:
                lines.append(f"Content-Length: {content_length(resp_head)}".encode())
            out_head = b"\r\n".join(lines) + b"\r\n\r\n"
            if method == "GET" and len(resp_body) > 1 and every(args.every_cut):
                COUNTS["cut"] += 1
                save_stats(args)
                writer.write(out_head + resp_body[: len(resp_body) // 2])
                await writer.drain()
                reset(writer)
                return
            if every(args.every_slow) and len(resp_body) > 0:
                COUNTS["slow"] += 1
                writer.write(out_head)
                step = max(1, len(resp_body) // 8 + 1)
                for i in range(0, len(resp_body), step):
                    await asyncio.sleep(args.slow_ms / 1000)
                    writer.write(resp_body[i:i + step])
                    await writer.drain()
            else:
                writer.write(out_head + resp_body)
                await writer.drain()
            save_stats(args)
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        if not writer.transport.is_closing():
            writer.close()


async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--upstream", required=True, help="host:port of the S3 server")
    p.add_argument("--port", type=int, default=0)
    for name in ("503", "429", "reset", "cut", "slow"):
        p.add_argument(f"--every-{name}", type=int, default=0, dest=f"every_{name}")
    p.add_argument("--slow-ms", type=float, default=20)
    p.add_argument("--latency-ms", type=float, default=0)
    p.add_argument("--fail-path", default="")
    p.add_argument("--max-requests", type=int, default=100_000)
    p.add_argument("--max-seconds", type=float, default=600)
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--stats")
    args = p.parse_args()
    host, _, port = args.upstream.rpartition(":")
    args.upstream_host, args.upstream_port = host, int(port)
    context = None
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
    done = asyncio.Event()
    server = await asyncio.start_server(lambda r, w: handle(args, r, w, done), "127.0.0.1",
                                        args.port, ssl=context, limit=1 << 20)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    save_stats(args)
    try:
        await asyncio.wait_for(done.wait(), timeout=args.max_seconds)
        # Let the last responses go out.
        await asyncio.sleep(0.5)
    except asyncio.TimeoutError:
        pass
    server.close()
    print(f"fault proxy stopping: {json.dumps(COUNTS)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
