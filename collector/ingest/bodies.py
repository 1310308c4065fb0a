"""What every OTLP receiver does to a body before decoding it: the content types it takes,
the errors of an undecodable or oversized body, and gzip / deflate decompression within a
size limit (gzip bombs)."""

from __future__ import annotations

import zlib

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class DecodeError(ValueError):
    """The body is not a decodable OTLP trace export."""


class BodyTooLarge(ValueError):
    """The body, after decompression, exceeds the configured limit."""


def gunzip(body: bytes, limit: int) -> bytes:
    """Decompress a gzip body, refusing to inflate past `limit` bytes (gzip bombs).

    Every member of a multi-member stream is decompressed (RFC 1952 allows concatenated
    members); anything after the last member that is not gzip makes the body invalid.
    """
    return _inflate(body, limit, 16 + zlib.MAX_WBITS, "gzip")


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """Undo a `Content-Encoding` of gzip or deflate (zlib format), within `limit` bytes."""
    if encoding == "gzip":
        return gunzip(body, limit)
    if encoding == "deflate":
        return _inflate(body, limit, zlib.MAX_WBITS, "deflate")
    raise DecodeError(f"unsupported content encoding {encoding!r}")


def _inflate(body: bytes, limit: int, wbits: int, name: str) -> bytes:
    out = bytearray()
    rest = body
    while True:
        inflater = zlib.decompressobj(wbits=wbits)
        try:
            out += inflater.decompress(rest, limit + 1 - len(out))
        except zlib.error as exc:
            raise DecodeError(f"invalid {name} body: {exc}") from None
        if len(out) > limit or inflater.unconsumed_tail:
            raise BodyTooLarge(f"decompressed body exceeds {limit} bytes")
        if not inflater.eof:
            raise DecodeError(f"truncated {name} body")
        rest = inflater.unused_data
        if not rest:
            return bytes(out)
