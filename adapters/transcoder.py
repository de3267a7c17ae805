"""The library's JSON transcoder with a faster ``encode`` that writes the same bytes.

``eventsourcing.persistence.JSONTranscoder`` encodes with the stdlib ``json`` encoder and
calls back into Python for every datetime and UUID (``{"_type_": …, "_data_": …}``); that
costs ~13 µs per touchpoint event, about as much as the COPY that stores it. Here the
registered transcodings are applied in one pass over the (small) event state and msgspec
writes the JSON. The projector reads the stored JSON directly (projections/decoding.py,
bulk.py), so the output must be byte-for-byte what the library writes: anything whose
bytes could differ between the two encoders (a float, whose text msgspec writes its own
way, goes through ``float.__repr__`` as the stdlib does; a type that is not exactly a JSON
type or a registered one; an integer beyond 64 bits; a non-string key) takes the library's
own path for the whole object, errors included. Decoding is the library's, unchanged.
"""

from __future__ import annotations

import math
from typing import Any, Final

import msgspec
from eventsourcing.persistence import JSONTranscoder

_encode: Final = msgspec.json.Encoder().encode
_SCALARS: Final = frozenset({str, int, bool, type(None)})


class _LibraryPath(Exception):
    """A value the fast path does not handle: encode the whole object the library's way."""


class FastJSONTranscoder(JSONTranscoder):
    def encode(self, obj: Any) -> bytes:
        try:
            return _encode(self._prepare(obj))
        except Exception:  # _LibraryPath, an int beyond 64 bits, a lone surrogate, recursion…
            return super().encode(obj)

    def _prepare(self, value: Any) -> Any:
        kind = type(value)
        if kind is dict:
            prepared = {}
            for key, item in value.items():
                if type(key) is not str:
                    raise _LibraryPath
                prepared[key] = item if type(item) in _SCALARS else self._prepare(item)
            return prepared
        if kind is list or kind is tuple:
            return [item if type(item) in _SCALARS else self._prepare(item) for item in value]
        if kind is float:
            return msgspec.Raw(_float_text(value).encode())
        if kind in _SCALARS:
            return value
        transcoding = self.types.get(kind)
        if transcoding is None:
            raise _LibraryPath
        data = transcoding.encode(value)
        return {"_type_": transcoding.name, "_data_": data if type(data) in _SCALARS else self._prepare(data)}


def _float_text(value: float) -> str:
    # json.encoder's floatstr with allow_nan=True (the library's setting).
    if math.isfinite(value):
        return float.__repr__(value)
    if value != value:
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"
