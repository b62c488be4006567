"""The byte-level attack on blinding: every feature a script can read from the files a
participant fetches, never the pixels, turned into the rule "the side with the larger
(or the layout-X) value is method M", scored against the manifest.

Under blinding every rule is at chance: 50% within 3 standard errors, sqrt(0.25 / n).
Features: file length, chunk list, chunk count, ancillary chunks and their bytes, IDAT
count and lengths, zlib stream length and header, deflate block count (stored streams),
PNG filter types per row; for JPEG the segment list and comment bytes. Pixel values
(and so compressibility after decoding) are what people see and are not features.
"""
from __future__ import annotations

import math
import struct
import zlib
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, pos = [], len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        chunks.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return chunks


def jpeg_segments(data: bytes) -> list[tuple[int, int]]:
    """(marker, length) of every segment before the entropy-coded scan."""
    segments, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        segments.append((marker, length))
        if marker == 0xDA:  # start of scan
            break
        pos += 2 + length
    return segments


def png_features(data: bytes) -> dict[str, object]:
    chunks = png_chunks(data)
    kinds = [k for k, _ in chunks]
    idat = [body for k, body in chunks if k == b"IDAT"]
    stream = b"".join(idat)
    feats: dict[str, object] = {
        "length": len(data),
        "layout": b",".join(kinds).decode("latin-1"),
        "chunks": len(chunks),
        "ancillary_chunks": sum(k[0:1].islower() for k in kinds),
        "ancillary_bytes": sum(len(b) for k, b in chunks if k[0:1].islower()),
        "idat_count": len(idat),
        "idat_last": len(idat[-1]) if idat else 0,
        "idat_first": len(idat[0]) if idat else 0,
        "stream_length": len(stream),
        "zlib_header": stream[:2].hex(),
        "bytes_after_iend": len(data) - (data.rfind(b"IEND") + 8) if b"IEND" in data else -1,
    }
    try:
        raw = zlib.decompress(stream)
        width, height = struct.unpack(">II", chunks[0][1][:8])
        stride = (len(raw) // height) if height else 0
        filters = Counter(raw[i * stride] for i in range(height))
        for f in range(5):
            feats[f"filter_{f}_rows"] = filters.get(f, 0)
        feats["stored_blocks"] = stored_block_count(stream)
    except Exception:  # noqa: BLE001 - a stream we cannot read is a feature of its own
        feats["undecodable"] = 1
    return feats


def stored_block_count(stream: bytes) -> int:
    """Number of deflate blocks when every block is stored (-1 when one is not)."""
    pos, count = 2, 0
    while pos < len(stream) - 4:
        header = stream[pos]
        if (header >> 1) & 3 != 0:
            return -1
        (length,) = struct.unpack("<H", stream[pos + 1 : pos + 3])
        count += 1
        pos += 5 + length
        if header & 1:
            break
    return count


def jpeg_features(data: bytes) -> dict[str, object]:
    segments = jpeg_segments(data)
    return {
        "length": len(data),
        "layout": ",".join(f"{m:02x}" for m, _ in segments),
        "segments": len(segments),
        "comment_bytes": sum(n for m, n in segments if m == 0xFE),
        "app_bytes": sum(n for m, n in segments if 0xE0 <= m <= 0xEF),
        "header_bytes": sum(n for _, n in segments),
    }


def byte_features(data: bytes) -> dict[str, object]:
    if data.startswith(PNG_SIGNATURE):
        return png_features(data)
    if data.startswith(b"\xff\xd8"):
        return jpeg_features(data)
    return {"length": len(data), "layout": data[:8].hex()}


@dataclass(frozen=True)
class Rule:
    feature: str
    description: str
    accuracy: float
    n: int

    @property
    def standard_error(self) -> float:
        return math.sqrt(0.25 / self.n)

    @property
    def beats_chance(self) -> bool:
        return abs(self.accuracy - 0.5) > 3 * self.standard_error


def _credit(target_value, other_value, predicate: Callable[[object], bool]) -> float:
    """1 when the rule picks the target side alone, 0 when it picks the other alone, 1/2 else."""
    t, o = predicate(target_value), predicate(other_value)
    return 0.5 if t == o else float(t)


def rules(pairs: Iterable[tuple[dict, dict]]) -> list[Rule]:
    """Every single-feature rule over ``(target side features, other side features)`` pairs.

    The target is the side the attacker wants to find (Grad-CAM, or the focused side of an
    attention check). Numeric features: "the larger value is the target" (and its reverse,
    by symmetry of the accuracy). Other features: "the side whose value is X is the target",
    for every X seen."""
    pairs = list(pairs)
    n = len(pairs)
    if n == 0:
        return []
    names = sorted({k for t, o in pairs for k in (*t, *o)})
    found: list[Rule] = []
    for name in names:
        values = [(t.get(name), o.get(name)) for t, o in pairs]
        if all(isinstance(v, (int, float)) or v is None for pair in values for v in pair):
            score = sum(0.5 if (a or 0) == (b or 0) else float((a or 0) > (b or 0)) for a, b in values)
            acc = score / n
            found.append(Rule(name, f"the side with the larger {name}", max(acc, 1 - acc), n))
        else:
            for x in sorted({str(v) for pair in values for v in pair}):
                acc = sum(_credit(str(a), str(b), lambda v, x=x: v == x) for a, b in values) / n
                found.append(Rule(name, f"the side whose {name} is {x[:60]!r}", max(acc, 1 - acc), n))
    return found


def best_rule(pairs: Iterable[tuple[dict, dict]]) -> Rule:
    return max(rules(pairs), key=lambda r: r.accuracy)


def manifest_attack(manifest: dict, read: Callable[[dict], bytes], target_method: str = "gradcam"):
    """(best rule over study pairs, best rule over attention checks), reading each side's
    bytes with ``read(side_entry)``."""
    study, checks = [], []
    for pair in manifest["pairs"]:
        a, b = (byte_features(read(pair["sides"][s])) for s in "AB")
        if pair.get("is_attention_check"):
            focused = pair["expected"]["focused"]
            study_target, other = (a, b) if focused == "A" else (b, a)
            checks.append((study_target, other))
        else:
            study.append((a, b) if pair["sides"]["A"]["method"] == target_method else (b, a))
    return best_rule(study), best_rule(checks)
