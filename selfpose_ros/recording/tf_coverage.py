"""Which stamps the TF written to a bag covers: a keyframe is written only once the bag's own /tf can give its
camera pose, so a trainer or ``selfpose predict --fuse`` reading the bag never meets a keyframe beyond its TF.

The recorder looks poses up through its TF listener, while its /tf subscription for the bag is a second
subscription that may run a message behind. A keyframe stopped at that moment would otherwise sit after the
bag's last /tf message (seen in CI: the last keyframe 200 ms past the bag's TF).
"""

from __future__ import annotations

import threading


class BagTfBehindError(LookupError):
    """The bag's /tf does not reach a stamp yet (the frame waits, like a frame whose TF is late)."""


def _clean(frame: str) -> str:
    return frame[1:] if frame.startswith("/") else frame


class TfCoverage:
    """Per dynamic edge the first and last stamp written to the bag, and the static edges; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parent: dict[str, str] = {}
        self._span: dict[str, tuple[int, int]] = {}  # child -> (first, last) stamp, ns
        self._static: set[str] = set()

    def add(self, transforms: list[tuple[str, str, int]], static: bool) -> None:
        """Note transforms (parent, child, stamp_ns) written to the bag."""
        with self._lock:
            for parent, child, stamp in transforms:
                parent, child = _clean(parent), _clean(child)
                self._parent[child] = parent
                if static:
                    self._static.add(child)
                    continue
                first, last = self._span.get(child, (stamp, stamp))
                self._span[child] = (min(first, stamp), max(last, stamp))

    def _chain(self, frame: str) -> list[str]:
        chain, seen = [frame], {frame}
        while chain[-1] in self._parent and self._parent[chain[-1]] not in seen:
            chain.append(self._parent[chain[-1]])
            seen.add(chain[-1])
        return chain

    def check(self, target: str, source: str, stamp_ns: int) -> None:
        """Return when every dynamic edge between ``target`` and ``source`` has bag samples on both sides of
        ``stamp_ns``; raise BagTfBehindError naming the first edge that does not."""
        target, source = _clean(target), _clean(source)
        with self._lock:
            up_t, up_s = self._chain(target), self._chain(source)
            common = next((f for f in up_s if f in up_t), None)
            if common is None:
                raise BagTfBehindError(f"the bag's /tf does not connect {target!r} and {source!r} yet")
            edges = up_s[: up_s.index(common)] + up_t[: up_t.index(common)]
            for child in edges:
                if child in self._static:
                    continue
                first, last = self._span[child]
                if not first <= stamp_ns <= last:
                    raise BagTfBehindError(f"the bag's /tf for {self._parent[child]!r} -> {child!r} covers [{first}, "
                                       f"{last}] ns, not the image stamp {stamp_ns} ns yet")
