"""Builders of hostile files, small on disk and huge once trusted (used by tests and bench/hostile_memory.py).

Each is written the way an attacker would: valid formats whose headers declare sizes the
reader must not believe, built in seconds without ever holding the declared size in memory.
"""

from __future__ import annotations

import base64
import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

CHUNK = 16 * 2**20


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_png(width: int, height: int) -> bytes:
    """A valid, all-black 1-bit greyscale PNG of width x height: 13000x13000 is ~20 KB here
    (the issue's was 684 KB), 676 MB once decoded as RGBA."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed pixels
    rows_per_piece = max(1, CHUNK // len(row))
    squeeze = zlib.compressobj(9)
    idat = []
    for start in range(0, height, rows_per_piece):
        idat.append(squeeze.compress(row * min(rows_per_piece, height - start)))
    idat.append(squeeze.flush())
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    chunks = _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", b"".join(idat)) + _png_chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def canvas_value_with(png: bytes) -> dict:
    """The canvas component's session-state value as a modified client could send it."""
    return {"drawing": {"raw": {"objects": [{"type": "path"}]}, "data": data_url(png)}, "backgroundFit": None}


def deep_json(depth: int = 100_000) -> str:
    return "[" * depth + "]" * depth


def npz_declaring(path: Path, rows: int, cols: int = 10, dtype: str = "<f2") -> None:
    """A .npz whose probabilities.npy is (rows, cols) of zeros, deflated: 300 M rows (6 GB) is ~6 MB.

    Written by hand as a zip64 archive, so the 6 GB are never compressed (nor held) at once:
    after a full flush, deflate's output for the same input is the same bytes, so one
    compressed 16 MB block of zeros is repeated.
    """
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": dtype, "fortran_order": False, "shape": (rows, cols)})
    header = header.getvalue()
    nbytes = rows * cols * np.dtype(dtype).itemsize
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    pieces = [squeeze.compress(header) + squeeze.flush(zlib.Z_FULL_FLUSH)]
    crc = zlib.crc32(header)
    zeros = bytes(CHUNK)
    block = squeeze.compress(zeros) + squeeze.flush(zlib.Z_FULL_FLUSH)
    full, rest = divmod(nbytes, CHUNK)
    for _ in range(full):
        crc = zlib.crc32(zeros, crc)
    tail = squeeze.compress(bytes(rest)) + squeeze.flush()
    crc = zlib.crc32(bytes(rest), crc)
    name = b"probabilities.npy"
    size = len(header) + nbytes
    compressed = len(pieces[0]) + full * len(block) + len(tail)
    with open(path, "wb") as f:
        local_extra = struct.pack("<HHQQ", 1, 16, size, compressed)
        f.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 8, 0, 0x21, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                            len(name), len(local_extra)) + name + local_extra)
        f.write(pieces[0])
        for _ in range(full):
            f.write(block)
        f.write(tail)
        cd_offset = f.tell()
        cd_extra = struct.pack("<HHQQQ", 1, 24, size, compressed, 0)
        f.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 8, 0, 0x21, crc, 0xFFFFFFFF,
                            0xFFFFFFFF, len(name), len(cd_extra), 0, 0, 0, 0, 0xFFFFFFFF) + name + cd_extra)
        cd_size = f.tell() - cd_offset
        eocd64 = f.tell()
        f.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, 1, 1, cd_size, cd_offset))
        f.write(struct.pack("<IIQI", 0x07064B50, 0, eocd64, 1))
        f.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, cd_size, 0xFFFFFFFF, 0))


def sparse_keras(path: Path, real_model: bytes, size: int) -> None:
    """A `size`-byte model.keras that is mostly a hole: zeros (taking no disk) before a real
    .keras archive, which zip readers still find from its end. Reading it whole costs `size`."""
    with open(path, "wb") as f:
        f.truncate(size - len(real_model))
        f.seek(size - len(real_model))
        f.write(real_model)


def keras_with_config(source: Path, target: Path, edit) -> Path:
    """A copy of the .keras archive `source` whose config.json went through edit(dict), or is
    edit itself when it is a str (JSON too deep for json.dumps to write)."""
    import json

    with zipfile.ZipFile(source) as z:
        files = {name: z.read(name) for name in z.namelist()}
    if isinstance(edit, str):
        files["config.json"] = edit.encode()
    else:
        config = json.loads(files["config.json"])
        edit(config)
        files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(target, "w") as z:
        for name, content in files.items():
            z.writestr(name, content)
    return target


def layer(config: dict, name: str) -> dict:
    """The layer called `name` in a Sequential model's config.json."""
    return next(entry for entry in config["config"]["layers"] if entry["config"].get("name") == name)


def dense_declaring(source: Path, target: Path, units: int) -> Path:
    """A copy of the model `source` (the shipped models/default.keras: ~500 KB) whose `dense` layer
    declares `units` units: 2,000,000 is 3.2 G parameters, 13 GB of weights once Keras builds it."""
    return keras_with_config(source, target, lambda c: layer(c, "dense")["config"].update(units=units))
