"""Minimal GGUF v3 writer (pure Python + numpy), as specified in docs/model-format.md.

Only what a beenet model needs: typed scalar/string/array metadata and F32 / I32
tensors.  No dependency on the ``gguf`` package.
"""
from __future__ import annotations

import struct
from typing import Any, List, Sequence, Tuple

import numpy as np

GGUF_MAGIC = 0x46554747
GGUF_VERSION = 3

# value types
T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STRING, T_ARRAY, T_U64, T_I64, T_F64 = range(13)
_SCALAR_FMT = {
    T_U8: "<B", T_I8: "<b", T_U16: "<H", T_I16: "<h", T_U32: "<I", T_I32: "<i",
    T_F32: "<f", T_BOOL: "<B", T_U64: "<Q", T_I64: "<q", T_F64: "<d",
}

# tensor types
TENSOR_F32 = 0
TENSOR_I32 = 26


def _pack_string(s: str) -> bytes:
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


class GGUFWriter:
    """Collects key/values and tensors, then serialises them in one go."""

    def __init__(self, alignment: int = 32):
        if alignment & (alignment - 1) or not 8 <= alignment <= 4096:
            raise ValueError("alignment must be a power of two in [8, 4096]")
        self.alignment = alignment
        self._kv: List[Tuple[str, int, Any, int]] = []  # key, type, value, elem type
        self._keys = set()
        self._tensors: List[Tuple[str, np.ndarray, int]] = []
        self._tensor_names = set()
        if alignment != 32:
            self.add_u32("general.alignment", alignment)

    # -- metadata -----------------------------------------------------------
    def _add(self, key: str, vtype: int, value: Any, etype: int = -1) -> None:
        if key in self._keys:
            raise ValueError("duplicate key %r" % key)
        self._keys.add(key)
        self._kv.append((key, vtype, value, etype))

    def add_u32(self, key: str, v: int) -> None:
        self._add(key, T_U32, int(v))

    def add_i32(self, key: str, v: int) -> None:
        self._add(key, T_I32, int(v))

    def add_u64(self, key: str, v: int) -> None:
        self._add(key, T_U64, int(v))

    def add_f32(self, key: str, v: float) -> None:
        self._add(key, T_F32, float(v))

    def add_f64(self, key: str, v: float) -> None:
        self._add(key, T_F64, float(v))

    def add_bool(self, key: str, v: bool) -> None:
        self._add(key, T_BOOL, bool(v))

    def add_string(self, key: str, v: str) -> None:
        self._add(key, T_STRING, str(v))

    def add_array(self, key: str, etype: int, values: Sequence[Any]) -> None:
        if etype == T_ARRAY:
            raise ValueError("nested arrays are not supported")
        self._add(key, T_ARRAY, list(values), etype)

    # -- tensors ------------------------------------------------------------
    def add_tensor(self, name: str, array: np.ndarray) -> None:
        """`array` is given in numpy (C) order; GGUF ne is its shape reversed."""
        if name in self._tensor_names:
            raise ValueError("duplicate tensor %r" % name)
        a = np.asarray(array)
        if a.dtype == np.float32 or a.dtype == np.float64:
            a = np.ascontiguousarray(a, dtype="<f4")
            ttype = TENSOR_F32
        elif a.dtype in (np.uint32, np.int32):
            a = np.ascontiguousarray(a.astype(np.uint32).view("<i4"))
            ttype = TENSOR_I32
        else:
            raise TypeError("unsupported tensor dtype %s" % a.dtype)
        if not 1 <= a.ndim <= 4:
            raise ValueError("tensor %r must have 1..4 dims" % name)
        self._tensor_names.add(name)
        self._tensors.append((name, a, ttype))

    # -- serialisation ------------------------------------------------------
    @staticmethod
    def _value_bytes(vtype: int, value: Any) -> bytes:
        if vtype == T_STRING:
            return _pack_string(value)
        return struct.pack(_SCALAR_FMT[vtype], value)

    def to_bytes(self) -> bytes:
        out = bytearray()
        out += struct.pack("<IIQQ", GGUF_MAGIC, GGUF_VERSION, len(self._tensors), len(self._kv))
        for key, vtype, value, etype in self._kv:
            out += _pack_string(key) + struct.pack("<I", vtype)
            if vtype == T_ARRAY:
                out += struct.pack("<IQ", etype, len(value))
                for v in value:
                    out += self._value_bytes(etype, v)
            else:
                out += self._value_bytes(vtype, value)
        offset = 0
        offsets = []
        for name, a, ttype in self._tensors:
            ne = list(reversed(a.shape))
            out += _pack_string(name) + struct.pack("<I", len(ne))
            out += struct.pack("<%dQ" % len(ne), *ne)
            out += struct.pack("<IQ", ttype, offset)
            offsets.append(offset)
            offset += a.nbytes
            offset = (offset + self.alignment - 1) // self.alignment * self.alignment
        pad = (-len(out)) % self.alignment
        out += b"\0" * pad
        data_start = len(out)
        for (name, a, ttype), off in zip(self._tensors, offsets):
            cur = len(out) - data_start
            out += b"\0" * (off - cur)
            out += a.tobytes()
        return bytes(out)

    def write(self, path: str) -> int:
        data = self.to_bytes()
        with open(path, "wb") as f:
            f.write(data)
        return len(data)


def read_gguf(data: bytes):
    """Small reader used by the tests to round-trip what the writer produced.

    Returns (kv dict, {tensor name: numpy array in C order}).
    """
    pos = 0

    def take(fmt):
        nonlocal pos
        vals = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return vals

    def string():
        nonlocal pos
        (n,) = take("<Q")
        s = data[pos:pos + n].decode("utf-8")
        pos += n
        return s

    def value(vtype):
        if vtype == T_STRING:
            return string()
        if vtype == T_ARRAY:
            etype, n = take("<IQ")
            return [value(etype) for _ in range(n)]
        (v,) = take(_SCALAR_FMT[vtype])
        return bool(v) if vtype == T_BOOL else v

    magic, version, n_t, n_kv = take("<IIQQ")
    if magic != GGUF_MAGIC or version != GGUF_VERSION:
        raise ValueError("not a GGUF v3 file")
    kv = {}
    for _ in range(n_kv):
        k = string()
        (vt,) = take("<I")
        kv[k] = value(vt)
    infos = []
    for _ in range(n_t):
        name = string()
        (nd,) = take("<I")
        ne = take("<%dQ" % nd)
        ttype, off = take("<IQ")
        infos.append((name, ne, ttype, off))
    align = kv.get("general.alignment", 32)
    data_start = (pos + align - 1) // align * align
    tensors = {}
    for name, ne, ttype, off in infos:
        count = int(np.prod(ne))
        dt = "<f4" if ttype == TENSOR_F32 else "<i4"
        a = np.frombuffer(data, dtype=dt, count=count, offset=data_start + off)
        tensors[name] = a.reshape(tuple(reversed(ne)))
    return kv, tensors
