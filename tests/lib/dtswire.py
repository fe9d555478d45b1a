"""What the Python test helpers (tests/lib/*.py) share of dts's wire format
(docs/spec/wire.md): the frame header, type ids and their multicast groups."""
import struct

# The 64-byte frame header: magic, version, kind, flags, key_id, payload_len,
# corr, type_id, schema_id, instance, host, seq, sent_ns.
HDR = struct.Struct("<2sBBHHIIQQQQQq")


def fnv1a64(data: bytes) -> int:
    """FNV-1a 64: a type's id is that of its name."""
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def group(type_id: int) -> str:
    """The IPv4 multicast group of a channel (a type's id, or its back channel's)."""
    return f"239.255.{1 + type_id % 255}.{1 + (type_id >> 8) % 254}"
