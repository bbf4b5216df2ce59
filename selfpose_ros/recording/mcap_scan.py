"""Tolerant reading of possibly truncated MCAP files, and closing them so that MCAP readers accept them.

A recorder killed mid-write leaves an MCAP file without its summary and footer, often ending inside a
record. :func:`scan_mcap` walks the data section record by record (the MCAP spec: opcode u8, length u64,
body) and stops at the first record that is cut off or does not decode; everything before it is intact.
:func:`finalize_unindexed` cuts the file there and appends a Data End record and a footer without a summary
section (the summary is optional in MCAP); readers then find the messages by a linear scan.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

from rosbags.rosbag2.storage_mcap import decompress as rosbags_decompress

MAGIC = b"\x89MCAP0\r\n"
OP_HEADER, OP_FOOTER, OP_SCHEMA, OP_CHANNEL, OP_MESSAGE, OP_CHUNK = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
OP_DATA_END = 0x0F
_U16, _U32, _U64 = struct.Struct("<H"), struct.Struct("<I"), struct.Struct("<Q")


class McapFormatError(ValueError):
    """Bytes that do not form a valid MCAP record."""


@dataclass
class ChannelInfo:
    """One MCAP channel: topic, schema (message type name and definition) and metadata."""

    topic: str
    schema_name: str
    schema_encoding: str
    schema_data: str
    message_encoding: str
    metadata: dict[str, str]


@dataclass
class McapScan:
    """What the intact part of an MCAP file holds."""

    path: Path
    file_size: int
    good_end: int = 0  # offset just past the last intact record of the data section
    complete: bool = False  # the data section was closed (Data End record found)
    stop_reason: str = ""
    chunks: int = 0
    channels: dict[int, ChannelInfo] = field(default_factory=dict)
    counts: dict[int, int] = field(default_factory=dict)
    start_ns: int | None = None
    end_ns: int | None = None
    log_time_ordered: bool = True

    @property
    def message_count(self) -> int:
        """Number of intact messages."""
        return sum(self.counts.values())


def _string(buf: memoryview, pos: int) -> tuple[str, int]:
    (n,) = _U32.unpack_from(buf, pos)
    end = pos + 4 + n
    if end > len(buf):
        raise McapFormatError("string runs past its record")
    return bytes(buf[pos + 4 : end]).decode(), end


def _string_map(buf: memoryview, pos: int) -> tuple[dict[str, str], int]:
    (n,) = _U32.unpack_from(buf, pos)
    pos, end, out = pos + 4, pos + 4 + n, {}
    while pos < end:
        key, pos = _string(buf, pos)
        out[key], pos = _string(buf, pos)
    return out, pos


class _Scanner:
    def __init__(self, scan: McapScan) -> None:
        self.scan = scan
        self.schemas: dict[int, tuple[str, str, str]] = {}
        self.last_log_time = -1

    def chunk_records(self, buf: memoryview) -> None:
        """Apply every record inside a decompressed chunk; raise McapFormatError on the first bad one."""
        pos, end = 0, len(buf)
        while pos < end:
            if pos + 9 > end:
                raise McapFormatError("record header cut off inside a chunk")
            op = buf[pos]
            (length,) = _U64.unpack_from(buf, pos + 1)
            if pos + 9 + length > end:
                raise McapFormatError(f"record 0x{op:02x} runs past the end of its chunk")
            self.record(op, buf[pos + 9 : pos + 9 + length], nested=True)
            pos += 9 + length

    def record(self, op: int, body: memoryview, nested: bool) -> None:
        if not (0x01 <= op <= 0x0F or op >= 0x80):  # e.g. a zero-filled tail after a power loss
            raise McapFormatError(f"invalid record opcode 0x{op:02x}")
        try:
            if op == OP_SCHEMA:
                (sid,) = _U16.unpack_from(body, 0)
                name, p = _string(body, 2)
                encoding, p = _string(body, p)
                (n,) = _U32.unpack_from(body, p)
                self.schemas[sid] = (name, encoding, bytes(body[p + 4 : p + 4 + n]).decode())
            elif op == OP_CHANNEL:
                cid, sid = struct.unpack_from("<HH", body, 0)
                topic, p = _string(body, 4)
                msg_encoding, p = _string(body, p)
                metadata, _ = _string_map(body, p)
                name, encoding, data = self.schemas.get(sid, ("", "", ""))
                self.scan.channels[cid] = ChannelInfo(topic, name, encoding, data, msg_encoding, metadata)
            elif op == OP_MESSAGE:
                cid, _, log_time = struct.unpack_from("<HIQ", body, 0)
                if cid not in self.scan.channels:
                    raise McapFormatError(f"message on unknown channel {cid}")
                self.message(cid, log_time)
            elif op == OP_CHUNK and not nested:
                self.chunk(body)
        except (struct.error, UnicodeDecodeError) as exc:
            raise McapFormatError(f"record 0x{op:02x} does not decode: {exc}") from None

    def message(self, cid: int, log_time: int) -> None:
        s = self.scan
        s.counts[cid] = s.counts.get(cid, 0) + 1
        s.start_ns = log_time if s.start_ns is None else min(s.start_ns, log_time)
        s.end_ns = log_time if s.end_ns is None else max(s.end_ns, log_time)
        if log_time < self.last_log_time:
            s.log_time_ordered = False
        self.last_log_time = log_time

    def chunk(self, body: memoryview) -> None:
        _, _, size, crc = struct.unpack_from("<QQQI", body, 0)
        compression, p = _string(body, 28)
        (n,) = _U64.unpack_from(body, p)
        if p + 8 + n > len(body):
            raise McapFormatError("chunk data runs past its record")
        try:  # rosbags' own chunk decoder: '', lz4, zstd; checks size and CRC
            raw = rosbags_decompress(bytes(body[p + 8 : p + 8 + n]), compression, size, crc)
        except Exception as exc:  # ReaderError, or the decompressor's own error on corrupt data
            raise McapFormatError(f"chunk does not decompress: {exc}") from None
        # apply the chunk atomically: a chunk that fails half-way must not leave half its messages counted
        saved = (dict(self.scan.counts), self.scan.start_ns, self.scan.end_ns, self.last_log_time,
                 self.scan.log_time_ordered, dict(self.schemas), dict(self.scan.channels))
        try:
            self.chunk_records(memoryview(raw))
        except McapFormatError:
            (self.scan.counts, self.scan.start_ns, self.scan.end_ns, self.last_log_time,
             self.scan.log_time_ordered, self.schemas, self.scan.channels) = saved
            raise
        self.scan.chunks += 1


def scan_mcap(path: str | Path) -> McapScan:
    """Scan the data section of the MCAP file at ``path``, stopping at the first damaged record."""
    path = Path(path)
    size = path.stat().st_size
    scan = McapScan(path=path, file_size=size)
    scanner = _Scanner(scan)
    with open(path, "rb") as f:
        if f.read(8) != MAGIC:
            raise McapFormatError(f"{path}: not an MCAP file (bad magic)")
        head = f.read(9)
        if len(head) < 9 or head[0] != OP_HEADER:
            raise McapFormatError(f"{path}: MCAP header record missing or cut off")
        header = f.read(_U64.unpack_from(head, 1)[0])
        try:
            profile, _ = _string(memoryview(header), 0)
        except (struct.error, McapFormatError):
            raise McapFormatError(f"{path}: MCAP header record cut off") from None
        if profile != "ros2":
            raise McapFormatError(f"{path}: MCAP profile is {profile!r}, expected 'ros2'")
        scan.good_end = f.tell()
        try:
            while not scan.complete:
                pos = f.tell()
                head = f.read(9)
                if not head:
                    scan.stop_reason = "file ends without a Data End record"
                    break
                if len(head) < 9:
                    raise McapFormatError(f"record header cut off at offset {pos}")
                length = _U64.unpack_from(head, 1)[0]
                if pos + 9 + length > size:
                    raise McapFormatError(f"record 0x{head[0]:02x} at offset {pos} is cut off "
                                          f"({length} bytes announced, {size - pos - 9} present)")
                if head[0] == OP_DATA_END:
                    scan.complete = True
                    break
                scanner.record(head[0], memoryview(f.read(length)), nested=False)
                scan.good_end = f.tell()
        except McapFormatError as exc:
            scan.stop_reason = str(exc)
    return scan


def finalize_unindexed(path: str | Path, good_end: int) -> int:
    """Cut the MCAP file at ``good_end`` and close it with Data End + footer (no summary); return dropped bytes."""
    path = Path(path)
    size = path.stat().st_size
    if not 0 < good_end <= size:
        raise ValueError(f"good_end {good_end} outside the file size {size} of {path}")
    with open(path, "r+b") as f:
        f.truncate(good_end)
        f.seek(good_end)
        f.write(bytes([OP_DATA_END]) + _U64.pack(4) + _U32.pack(0))
        f.write(bytes([OP_FOOTER]) + _U64.pack(20) + _U64.pack(0) + _U64.pack(0) + _U32.pack(0))
        f.write(MAGIC)
        f.flush()
        os.fsync(f.fileno())
    return size - good_end
