#!/usr/bin/env python3
"""Bytes per report on the wire for the encodings ADR 0020 weighs.

Encodes the same pushed report (a create op, as the benchmark's reports are:
category, position with accuracy, a Chinese note, no address) and the same
pulled report (its merged state, every field a register with its clock) in:

  postcard-v2   the released shapes (protocol 2)
  postcard-v3   the current shapes, frozen modules per version (protocol 3)
  postcard+ext  protocol 2's shapes, each extensible struct ending in an
                extension map Vec<(u16 key, bytes)> that carries new fields
  protobuf      proto3 with field numbers (what prost would write; zero and
                absent fields omitted, UUIDs as 16-byte `bytes`, the clock's
                node as fixed64)

each with and without an asset code set. Checks its postcard encoder against
the golden vector of a create op (protocol/golden/v3/client_push_create.hex)
first, so the figures are the real encoder's. Run: python3 tools/wire-sizes.py

Then says what a pulled record's bytes are (its clocks, its ids, the rest).
Protocol 4 packs whole pages with zstd (ADR 0032), which Python's standard
library cannot do; the packed figures of a page of realistic reports come
from `cargo test -p gridwarden-protocol --test page_bytes -- --nocapture`.
"""

import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# ---- postcard ----


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def zigzag(n):
    return (n << 1) ^ (n >> 63)


def pc_str(s):
    b = s.encode()
    return varint(len(b)) + b


def pc_opt(v, enc):
    return b"\x00" if v is None else b"\x01" + enc(v)


def pc_uuid(u):
    return varint(16) + u


def pc_hlc(h):
    wall, counter, node = h
    return varint(wall) + varint(counter) + varint(node)


def pc_location(loc):
    lon, lat, acc = loc
    return struct.pack("<d", lon) + struct.pack("<d", lat) + pc_opt(acc, lambda a: struct.pack("<f", a))


def pc_new_report(r, version):
    out = (
        pc_str(r["category"])
        + pc_location(r["location"])
        + pc_opt(r["address"], pc_str)
        + pc_str(r["note"])
        + varint(zigzag(r["observed_at_ms"]))
        + pc_opt(r["patrol"], pc_uuid)
    )
    if version == 3:
        out += pc_opt(r["asset"], pc_str)
    elif version == "ext":
        out += pc_ext({1: pc_str(r["asset"])} if r["asset"] else {})
    return out


def pc_ext(fields):
    out = varint(len(fields))
    for key, value in sorted(fields.items()):
        out += varint(key) + varint(len(value)) + value
    return out


def pc_create_op(op, version):
    # Op { op_id, hlc, body: OpBody::Report [0] { report_id, op: ReportOp::Create [0] } }
    return (
        pc_uuid(op["op_id"])
        + pc_hlc(op["hlc"])
        + varint(0)
        + pc_uuid(op["report_id"])
        + varint(0)
        + pc_new_report(op["report"], version)
    )


def pc_lww(value_bytes, hlc):
    return value_bytes + pc_hlc(hlc)


def pc_state(op, version):
    r, h = op["report"], op["hlc"]
    some = lambda b: b"\x01" + b
    origin = (
        pc_str("wang.wei")
        + pc_uuid(op["device"])
        + varint(zigzag(r["observed_at_ms"]))
        + pc_opt(r["patrol"], pc_uuid)
        + pc_hlc(h)
    )
    out = (
        pc_uuid(op["report_id"])
        + some(origin)
        + some(pc_lww(pc_str(r["category"]), h))
        + some(pc_lww(pc_str(r["note"]), h))
        + some(pc_lww(pc_location(r["location"]), h))
        + some(pc_lww(pc_opt(r["address"], pc_str), h))
    )
    if version == 3:
        # The register is written only when a create or edit sets it.
        out += some(pc_lww(pc_opt(r["asset"], pc_str), h)) if r["asset"] else b"\x00"
    out += b"\x00"  # deleted: None
    out += some(pc_lww(pc_opt("990102001001001", pc_str), (h[0] + 500, 0, 0)))
    out += varint(0)  # photos
    if version == "ext":
        ext = {}
        if r["asset"]:
            ext[1] = pc_lww(pc_opt(r["asset"], pc_str), h)
        out += pc_ext(ext)
    return b"\x00" + out  # Record::Report [0]


# ---- protobuf (proto3) ----


def pb_key(field, wire):
    return varint((field << 3) | wire)


def pb_varint(field, n):
    return b"" if n == 0 else pb_key(field, 0) + varint(n)


def pb_bytes(field, b):
    return pb_key(field, 2) + varint(len(b)) + b


def pb_str(field, s):
    return b"" if s is None or s == "" else pb_bytes(field, s.encode())


def pb_double(field, x):
    return pb_key(field, 1) + struct.pack("<d", x)


def pb_float(field, x):
    return b"" if x is None else pb_key(field, 5) + struct.pack("<f", x)


def pb_fixed64(field, n):
    return b"" if n == 0 else pb_key(field, 1) + struct.pack("<Q", n)


def pb_msg(field, body):
    return pb_bytes(field, body)


def pb_hlc(field, h):
    wall, counter, node = h
    return pb_msg(field, pb_varint(1, wall) + pb_varint(2, counter) + pb_fixed64(3, node))


def pb_location(field, loc):
    lon, lat, acc = loc
    return pb_msg(field, pb_double(1, lon) + pb_double(2, lat) + pb_float(3, acc))


def pb_new_report(field, r):
    body = (
        pb_str(1, r["category"])
        + pb_location(2, r["location"])
        + pb_str(3, r["address"])
        + pb_str(4, r["note"])
        + pb_varint(5, r["observed_at_ms"])
        + (pb_bytes(6, r["patrol"]) if r["patrol"] else b"")
        + pb_str(7, r["asset"])
    )
    return pb_msg(field, body)


def pb_create_op(op):
    # Op { 1 op_id, 2 hlc, oneof body { 3 ReportBody { 1 report_id, oneof op { 2 create } } } }
    body = pb_bytes(1, op["report_id"]) + pb_new_report(2, op["report"])
    return pb_bytes(1, op["op_id"]) + pb_hlc(2, op["hlc"]) + pb_msg(3, body)


def pb_state(op):
    r, h = op["report"], op["hlc"]

    def lww(field, value):  # message { 1 value, 2 hlc }
        return pb_msg(field, value + pb_hlc(2, h))

    origin = (
        pb_str(1, "wang.wei")
        + pb_bytes(2, op["device"])
        + pb_varint(3, r["observed_at_ms"])
        + pb_hlc(5, h)
    )
    body = (
        pb_bytes(1, op["report_id"])
        + pb_msg(2, origin)
        + lww(3, pb_str(1, r["category"]))
        + lww(4, pb_str(1, r["note"]))
        + lww(5, pb_location(1, r["location"]))
        + (lww(6, pb_str(1, r["address"])) if r["address"] else b"")
        + (lww(7, pb_str(1, r["asset"])) if r["asset"] else b"")
        + pb_msg(9, pb_str(1, "990102001001001") + pb_hlc(2, (h[0] + 500, 0, 0)))
    )
    return pb_msg(1, body)  # Record { oneof { 1 report } }


# ---- the reports ----


def uuid_v7(n):
    return bytes.fromhex("0190000000007000800000000000") + n.to_bytes(2, "big")


def op(note, address=None, asset=None, accuracy=7.0):
    return {
        "op_id": uuid_v7(2),
        "report_id": uuid_v7(1),
        "device": uuid_v7(9),
        # A device clock: its node is the low 64 bits of a random device id.
        "hlc": (1_763_800_000_000, 2, 0x0123_4567_89AB_CDEF),
        "report": {
            "category": "0101",
            "location": (111.7012345, 40.8412345, accuracy),
            "address": address,
            "note": note,
            "observed_at_ms": 1_763_799_999_000,
            "patrol": None,
            "asset": asset,
        },
    }


def check_against_golden():
    golden = bytes.fromhex(
        (ROOT / "protocol/golden/v3/client_push_create.hex").read_text().strip()
    )
    o = op(
        "井盖缺失 manhole cover missing",
        address="青山路 12号",
        asset="LD-0412",
        accuracy=4.5,
    )
    # Frame header (4), ClientMessage::Push [2], one op.
    payload = varint(2) + varint(1) + pc_create_op(o, 3)
    assert golden[4:] == payload, "the postcard encoder here disagrees with the golden vector"


def main():
    check_against_golden()
    cases = [
        ("no asset", op("井盖缺失，存在安全隐患")),
        ("asset set", op("井盖缺失，存在安全隐患", asset="LD-0412")),
    ]
    print(f"{'encoding':<14} {'report':<10} {'push op B':>9} {'pull record B':>13}")
    for label, o in cases:
        rows = [
            ("postcard-v2", len(pc_create_op(o, 2)) if not o["report"]["asset"] else None,
             len(pc_state(o, 2)) if not o["report"]["asset"] else None),
            ("postcard-v3", len(pc_create_op(o, 3)), len(pc_state(o, 3))),
            ("postcard+ext", len(pc_create_op(o, "ext")), len(pc_state(o, "ext"))),
            ("protobuf", len(pb_create_op(o)), len(pb_state(o))),
        ]
        for name, push, pull in rows:
            show = lambda v: "-" if v is None else str(v)
            print(f"{name:<14} {label:<10} {show(push):>9} {show(pull):>13}")


def breakdown():
    """Where a pulled record's bytes go (postcard-v3, no asset)."""
    o = op("井盖缺失，存在安全隐患")
    h = o["hlc"]
    total = len(pc_state(o, 3))
    device_clock = len(pc_hlc(h))
    clocks = 5 * device_clock + len(pc_hlc((h[0] + 500, 0, 0)))
    ids = 2 * len(pc_uuid(o["report_id"]))
    note = len(pc_str(o["report"]["note"]))
    print()
    print(f"a pulled record, {total} B: clocks {clocks} B (five registers and the create at "
          f"{device_clock} B each, the server's cell clock {len(pc_hlc((h[0] + 500, 0, 0)))} B), "
          f"report and device ids {ids} B, note {note} B, the rest {total - clocks - ids - note} B")
    same = clocks - 5 * device_clock + device_clock + 4
    print(f"with a clock sent only where it differs from the create's (a 1-byte tag otherwise): "
          f"{total - clocks + same} B")


if __name__ == "__main__":
    main()
    breakdown()
