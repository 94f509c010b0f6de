"""dlib's binary serialisation, read field by field: what both ported networks (resnet.py and mmod/) read their
model files with. Only numbers, strings and tensors are parsed; nothing in a file is executed."""

from __future__ import annotations

import math

import numpy as np


class DlibReader:
    """dlib's serialisation: ints as a size/sign byte plus little-endian bytes, floats as mantissa and exponent
    ints, bools as the characters '0' and '1', strings as a length and bytes, tensors as a version, four
    dimensions and raw little-endian float32s. Reads from byte ``pos`` on; anything malformed raises ``error`` (the
    caller's own ValueError, which names its model)."""

    def __init__(self, data: bytes, error: type[ValueError], pos: int = 0):
        self.data, self.pos, self.error = data, pos, error

    def int(self) -> int:
        if self.pos >= len(self.data):
            raise self.error("file ends inside a number")
        head = self.data[self.pos]
        n = head & 0x0F
        if n > 8 or head & 0x70:
            raise self.error(f"not a dlib integer at byte {self.pos}")
        raw = self.data[self.pos + 1 : self.pos + 1 + n]
        if len(raw) != n:
            raise self.error("file ends inside a number")
        self.pos += 1 + n
        value = int.from_bytes(raw, "little")
        return -value if head & 0x80 else value

    def float(self) -> float:
        mantissa, exponent = self.int(), self.int()
        if abs(exponent) > 1100:
            raise self.error(f"implausible number before byte {self.pos}")
        return math.ldexp(float(mantissa), exponent)

    def str(self) -> str:
        n = self.int()
        if not 0 <= n <= 256 or self.pos + n > len(self.data):
            raise self.error(f"implausible string at byte {self.pos}")
        raw = self.data[self.pos : self.pos + n]
        self.pos += n
        return raw.decode("ascii", "replace")

    def bool(self) -> bool:
        if self.pos >= len(self.data) or self.data[self.pos] not in b"01":
            raise self.error(f"not a dlib bool at byte {self.pos}")
        self.pos += 1
        return self.data[self.pos - 1] == ord("1")

    def dims(self) -> tuple[int, int, int, int]:
        d0, d1, d2, d3 = (self.int() for _ in range(4))
        if min(d0, d1, d2, d3) < 0:
            raise self.error(f"negative tensor dimension {(d0, d1, d2, d3)}")
        return d0, d1, d2, d3

    def tensor(self) -> np.ndarray:
        if self.int() != 2:
            raise self.error(f"unknown tensor version before byte {self.pos}")
        count = int(np.prod(self.dims()))
        if count > 10_000_000 or self.pos + 4 * count > len(self.data):
            raise self.error("implausible tensor (larger than the file)")
        a = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.pos).astype(np.float32)
        self.pos += 4 * count
        if not np.isfinite(a).all():
            raise self.error("tensor holds non-finite numbers")
        return a

    def alias(self) -> tuple[int, int, int, int]:
        if self.int() != 1:
            raise self.error(f"unknown alias_tensor version before byte {self.pos}")
        return self.dims()
