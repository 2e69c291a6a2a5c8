#!/usr/bin/env python3
"""Floods every port of a hub with garbage for SECONDS, from several threads at once:
  data:    random bytes, and well-formed handshakes of a made-up device and token;
  http:    random bytes, a request head larger than any limit, malformed request lines;
  control: a WebSocket upgrade followed by random frames and invalid JSON messages;
  sync:    random UDP datagrams, and 48-byte ones with the right magic and a random key and checksum.
Prints one JSON line of what it sent. Used by scripts/fault-e2e.sh; loopback only.
Usage: garbage-flood.py HTTP_PORT DATA_PORT SYNC_PORT SECONDS
"""
import json
import os
import random
import socket
import sys
import threading
import time

http_port, data_port, sync_port, seconds = (int(arg) for arg in sys.argv[1:5])
deadline = time.time() + seconds
sent = {"data_bytes": 0, "http_bytes": 0, "control_bytes": 0, "sync_datagrams": 0, "connections": 0}
lock = threading.Lock()


def count(key, amount):
    with lock:
        sent[key] += amount


def stream_garbage(port, key, make_payloads):
    """Connects again and again, sending payloads until the hub closes the connection."""
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as connection:
                count("connections", 1)
                for payload in make_payloads():
                    connection.sendall(payload)
                    count(key, len(payload))
                    if time.time() >= deadline:
                        break
        except OSError:
            time.sleep(0.01)  # refused, reset or closed by the hub: that is the point


def data_payloads():
    if random.random() < 0.5:
        # A well-formed handshake for a made-up device, token and session, then noise.
        device, token, session = b"intruder", os.urandom(8).hex().encode(), b"20260101T000000Z-x"
        yield (b"LSH1" + (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + bytes(8)
               + bytes([len(device), len(token), len(session), 0]) + device + token + session)
    for _ in range(64):
        yield os.urandom(random.choice([1, 17, 4096, 65536]))


def http_payloads():
    choice = random.random()
    if choice < 0.3:
        yield b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Fill: " + b"a" * 200_000 + b"\r\n\r\n"
    elif choice < 0.6:
        yield b"\x00\xff GARBAGE / HTTP/9.9\r\n\r\n" + os.urandom(512)
    else:
        for _ in range(16):
            yield os.urandom(4096)


def control_payloads():
    yield (b"GET /control HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    for _ in range(32):
        if random.random() < 0.5:
            body = random.choice([b"{", b"{\"type\":\"hello\"", b"[]", b"{\"type\":\"frame\",\"x\":" + b"[" * 100, os.urandom(64)])
            mask = os.urandom(4)
            masked = bytes(b ^ mask[i % 4] for i, b in enumerate(body))
            yield bytes([0x81, 0x80 | len(body)]) + mask + masked if len(body) < 126 else os.urandom(256)
        else:
            yield os.urandom(random.choice([2, 14, 300]))


def sync_flood():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        while time.time() < deadline:
            for _ in range(200):
                size = random.choice([1, 8, 48, 64, 72, 1400])
                datagram = b"LSY1\x01\x02" + os.urandom(42) if random.random() < 0.5 else os.urandom(size)
                sender.sendto(datagram, ("127.0.0.1", sync_port))
                count("sync_datagrams", 1)
            time.sleep(0.02)  # about 10,000 datagrams per second


threads = [threading.Thread(target=sync_flood)]
for port, key, payloads in ((data_port, "data_bytes", data_payloads), (http_port, "http_bytes", http_payloads),
                            (http_port, "control_bytes", control_payloads)):
    threads += [threading.Thread(target=stream_garbage, args=(port, key, payloads)) for _ in range(2)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps(sent))
