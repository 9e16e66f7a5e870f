"""The protocol's line codec (firmware/PROTOCOL.md): a command as the one line a board reads,
a reply found in the lines a board prints, and the sizes that follow from line_max and
chunk_max. No I/O: targets.board.protocol's client sends and reads the lines.
"""
from __future__ import annotations

import base64
import json
from typing import Any

from targets.board.protocol_words import CMD, REPLY_PREFIX


def encode_command(cmd: str, *args: int | str | bytes) -> bytes:
    """One command line. bytes arguments are sent base64-encoded; ints in decimal."""
    words = [cmd]
    for arg in args:
        if isinstance(arg, (bytes, bytearray, memoryview)):
            words.append(base64.b64encode(bytes(arg)).decode("ascii"))
        elif isinstance(arg, bool):
            raise TypeError(f"{cmd}: boolean argument {arg!r} has no protocol spelling")
        elif isinstance(arg, int):
            words.append(str(arg))
        else:
            words.append(str(arg))
    for w in words:
        if not w or " " in w or not w.isascii() or not w.isprintable():
            raise ValueError(f"{cmd}: argument {w!r} is empty or not one printable ASCII word")
    return (" ".join(words) + "\n").encode("ascii")


def parse_reply_line(line: bytes) -> dict[str, Any] | None:
    """The JSON body of a prefixed reply, or None for noise (no prefix, or a prefix
    followed by something that is not a JSON object). The prefix may follow log text on
    the same line (a log line the chip did not finish)."""
    text = line.decode("utf-8", "replace").rstrip("\r\n")
    at = text.find(REPLY_PREFIX)
    if at < 0:
        return None
    try:
        body = json.loads(text[at + len(REPLY_PREFIX):])
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def chunk_payload_max(chunk_max: int, line_max: int) -> int:
    """Largest chunk (decoded bytes) that fits both chunk_max and one line."""
    overhead = len(CMD.upload_chunk) + 1 + 10 + 1 + 1  # seq up to 10 digits, space, newline
    fits_line = (line_max - overhead) // 4 * 3
    n = min(chunk_max, fits_line)
    if n < 1:
        raise ValueError(f"line_max {line_max} leaves no room for an upload chunk")
    return n


def link_bytes_for_upload(model_size: int, chunk_max: int) -> int:
    """Bytes the host sends for a whole upload (begin, chunks, end), to compute the link
    time at a baud rate (10 bits per byte on a UART). Replies go the other way."""
    total = len(encode_command(CMD.upload_begin, model_size, "00000000")) + len(encode_command(CMD.upload_end))
    full, rest = divmod(model_size, chunk_max)
    sizes = [chunk_max] * full + ([rest] if rest else [])
    for seq, n in enumerate(sizes):
        total += len(f"{CMD.upload_chunk} {seq} ") + 4 * ((n + 2) // 3) + 1
    return total
