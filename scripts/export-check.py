#!/usr/bin/env python3
"""Checks a session's XDF export with pyxdf against its CSV export: every frame of every stream is
there, pyxdf's own clock synchronisation (ClockOffset chunks, no dejittering) puts each frame within
1 µs of the hub-timeline time Lockstep computed, and the markers stream matches markers.csv.

Usage: export-check.py SESSION.xdf CSV_FOLDER
Exit 0 when every check passes, 1 with the failed check named otherwise."""
import csv
import os
import sys

import pyxdf

XDF, CSV = sys.argv[1], sys.argv[2]
TOLERANCE_S = 1e-6


def fail(message):
    print(f"export-check: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


streams, _ = pyxdf.load_xdf(XDF, synchronize_clocks=True, dejitter_timestamps=False, verbose=False)
by_name = {s["info"]["name"][0]: s for s in streams}
checked_frames, worst = 0, 0.0
for device in sorted(os.listdir(CSV)):
    folder = os.path.join(CSV, device)
    if not os.path.isdir(folder):
        continue
    for name in sorted(os.listdir(folder)):
        stream_id = name.removeprefix("stream-").removesuffix(".csv")
        with open(os.path.join(folder, name)) as file:
            rows = list(csv.DictReader(file))
        matches = [s for n, s in by_name.items() if n.startswith(device + "/") and n.endswith("-" + stream_id)]
        if len(matches) != 1:
            fail(f"no single XDF stream for {device} stream {stream_id} (streams: {sorted(by_name)})")
        stream = matches[0]
        series, stamps = stream["time_series"], stream["time_stamps"]
        if len(rows) != len(stamps):
            fail(f"{device}/{name}: {len(rows)} frames in the CSV, {len(stamps)} in the XDF")
        for row, values, stamp in zip(rows, series, stamps):
            if int(values[0]) != int(row["sequence"]) or int(values[1]) != int(row["file_offset"]):
                fail(f"{device}/{name}: sequence/offset {values[:2]} vs {row['sequence']}/{row['file_offset']}")
            if not row["hub_ns"]:
                fail(f"{device}/{name}: frame {row['sequence']} has no hub time")
            error = abs(stamp - int(row["hub_ns"]) / 1e9)
            worst = max(worst, error)
            if error > TOLERANCE_S:
                fail(f"{device}/{name}: frame {row['sequence']} at {stamp:.9f} s by pyxdf, {int(row['hub_ns']) / 1e9:.9f} s by Lockstep")
        checked_frames += len(rows)

with open(os.path.join(CSV, "markers.csv")) as file:
    markers = list(csv.DictReader(file))
if markers:
    stream = by_name.get("markers")
    if stream is None:
        fail("no markers stream in the XDF")
    labels = [values[0] for values in stream["time_series"]]
    if labels != [m["label"] for m in markers]:
        fail(f"marker labels {labels} vs {[m['label'] for m in markers]}")
    for marker, stamp in zip(markers, stream["time_stamps"]):
        if abs(stamp - int(marker["hub_ns"]) / 1e9) > TOLERANCE_S:
            fail(f"marker {marker['label']}: {stamp} vs {marker['hub_ns']}")
if checked_frames == 0:
    fail("no frames checked")
print(f"export-check: {checked_frames} frames in {len(streams)} XDF streams, {len(markers)} markers; "
      f"largest difference from Lockstep's hub times {worst * 1e9:.1f} ns (limit {TOLERANCE_S * 1e9:.0f} ns)")
