#!/usr/bin/env python3
"""Writes the seed corpus in Fuzz/corpus/: valid and near-valid inputs for each decoder, built from
docs/protocol.md's layouts. Rerun after a protocol change; the files are committed."""
import os, struct

def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF

def frame(stream, seq, capture, flags, payload):
    head = b"LSF1" + struct.pack("<IQqHH", len(payload), seq, capture, stream, flags)
    return head + struct.pack("<I", crc32c(head + payload)) + payload

def sync(kind, key, exchange, ts_a, ts_b, src_a, src_b, flags):
    body = b"LSY1" + struct.pack("<BBBBQQqqHH", 1, kind, src_a, src_b, key, exchange, ts_a, ts_b, flags, 0)
    return body + struct.pack("<I", crc32c(body))

def handshake(stream, resume, device, token, session):
    strings = [s.encode() for s in (device, token, session)]
    return b"LSH1" + struct.pack("<HHQBBBB", 1, stream, resume, *[len(s) for s in strings], 0) + b"".join(strings)

seeds = {
    "frame": [frame(1, 0, 0, 0, b""), frame(2, 7, -5, 1, bytes(range(256))), frame(65535, 2**64 - 1, 2**63 - 1, 0, b"x" * 40),
              frame(3, 1, 1, 0, b"abc")[:40], b"LSF1" + bytes(28)],
    "sync": [sync(1, 42, 1, 1_000_000, 0, 4, 0, 0), sync(2, 42, 1, 2_000_000, 2_000_500, 2, 2, 1),
             sync(3, 42, 1, 1_000_100, 0, 2, 0, 0), sync(4, 42, 0, 0, 0, 4, 0, 0)],
    "handshake": [handshake(1, 0, "phone-01", "lockstep-dev", "20261129T100000Z-pilot"), handshake(3, 99, "d", "", "s"),
                  b"LSA1" + struct.pack("<HHQ", 0, 0, 12), b"LSA1" + struct.pack("<HHQ", 7, 0, 0)],
    "control": [s.encode() for s in [
        '{"v":1,"type":"hello","id":"h1","device_id":"phone-01","token":"t","model":"Pixel","software_version":"1",'
        '"streams":[{"stream_id":1,"kind":"video","name":"rgb","media_type":"video/h264","nominal_rate_hz":30}]}',
        '{"v":1,"type":"heartbeat","id":"b1","device_ns":123}',
        '{"v":1,"type":"marker","id":"m1","label":"flash","device_ns":5}',
        '{"v":1,"type":"stopped","id":"s1","re":"x","session_id":"s","frames":{"1":10}}',
        '{"v":2,"type":"hello","id":"x"}', '{"v":1,"type":"nope","id":"x"}', '[1,2,{"a":[true,false,null,1.5e3]}]',
        '{"a":"\\u00e9\\ud83d\\ude00"}', '{"v":1,"type":"heartbeat","id":"' + "x" * 70 + '"}']],
}
here = os.path.dirname(os.path.abspath(__file__))
for name, items in seeds.items():
    for index, data in enumerate(items):
        with open(os.path.join(here, "corpus", name, f"seed-{index:02d}"), "wb") as out:
            out.write(data)
print("wrote", sum(len(v) for v in seeds.values()), "seeds")
