"""The next frame's ray cast in a worker process, while the caller shades and degrades the current frame.

Open3D's ``RaycastingScene.cast_rays`` holds the GIL for the whole cast, so a thread cannot overlap it with
the numpy stages (measured: docs/simulator.md). A process can. The worker is a plain ``python -m`` child
(multiprocessing's spawn would re-run the caller's main script): it rebuilds the same Embree scene from the
same meshes and writes each cast into one of two slots of an anonymous shared file (``memfd``, freed with
the last process that holds it), with the caller's own cast function (``raycaster.cast_pixels``), so the
hits are bit-identical. While the worker starts (Python and Open3D imports, about 1.5 s of CPU) the caller
casts for itself.
"""

from __future__ import annotations

import logging
import mmap
import os
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from selfpose_ros.sim.ray_cast import RayHits, cast_pixels, raycasting_scene

if TYPE_CHECKING:  # the child process imports only numpy and Open3D (trimesh and the scene code cost ~1 s)
    from selfpose_ros.sim.raycaster import SceneRaycaster

log = logging.getLogger(__name__)

#: (field, dtype, columns) of one slot; columns 0 = a flat (N,) array.
_LAYOUT = (("depth", np.float32, 0), ("geometry", np.int64, 0), ("primitive", np.int64, 0),
           ("uv", np.float32, 2), ("face_normal", np.float32, 3), ("directions", np.float32, 3),
           ("origin", np.float64, -3))


def available() -> bool:
    """True where the worker can run (Linux: anonymous shared files) and there is a second core."""
    return hasattr(os, "memfd_create") and (os.cpu_count() or 1) > 1


def _slot_bytes(n: int) -> int:
    return sum((3 if c < 0 else n * max(c, 1)) * np.dtype(t).itemsize for _, t, c in _LAYOUT)


def _slot_arrays(buffer, n: int, slot: int) -> dict[str, np.ndarray]:
    """Views of the fields of slot ``slot`` in ``buffer`` (two slots of ``_slot_bytes(n)``)."""
    arrays, offset = {}, slot * _slot_bytes(n)
    for name, dtype, cols in _LAYOUT:
        shape = (-cols,) if cols < 0 else (n, cols) if cols else (n,)
        arrays[name] = np.ndarray(shape, dtype=dtype, buffer=buffer, offset=offset)
        offset += int(np.prod(shape)) * np.dtype(dtype).itemsize
    return arrays


def serve(requests: Connection, replies: Connection, memory_fd: int) -> None:
    """Worker loop: receive (meshes, camera rays, threads), say 'ready', cast (slot, pose) until None."""
    meshes, camera_rays, nthreads = requests.recv()
    n = len(camera_rays)
    memory = mmap.mmap(memory_fd, 2 * _slot_bytes(n))
    views = [_slot_arrays(memory, n, k) for k in range(2)]
    scene = raycasting_scene(meshes)
    rays = np.empty((n, 6), dtype=np.float32)
    replies.send("ready")
    while (request := requests.recv()) is not None:
        slot, T_map_optical = request
        hits = cast_pixels(scene, camera_rays, T_map_optical, rays, nthreads)
        for name, view in views[slot].items():
            np.copyto(view, getattr(hits, name))
        replies.send(slot)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the child: ``python -m selfpose_ros.sim.cast_worker REQ_FD REPLY_FD MEMORY_FD``."""
    req_fd, reply_fd, memory_fd = (int(a) for a in (argv if argv is not None else sys.argv[1:]))
    requests, replies = Connection(req_fd, writable=False), Connection(reply_fd, readable=False)
    try:
        serve(requests, replies, memory_fd)
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return 0  # the caller went away or closed us
    except Exception as exc:  # noqa: BLE001 - the caller gets the reason and casts for itself
        try:
            replies.send(("error", f"{type(exc).__name__}: {exc}"))
        except OSError:
            pass
        return 1
    return 0


class CastWorker:
    """One frame ahead: ``submit(i, pose)`` starts frame i's cast, ``take(i)`` returns its hits.

    Two slots: the hits of frame i stay valid until frame i + 2 is submitted. ``ready`` is False until the
    worker has built its scene; a worker that fails is closed, ``failed`` says why and the caller casts.
    """

    def __init__(self, raycaster: SceneRaycaster, nthreads: int = 1) -> None:
        n = raycaster.camera.height * raycaster.camera.width
        self._ready, self.failed = False, None
        self._pending: set[int] = set()  # frames submitted and not yet taken; frame i lives in slot i % 2
        memory_fd = os.memfd_create("selfpose-cast")
        req_r, req_w = os.pipe()
        reply_r, reply_w = os.pipe()
        try:
            os.ftruncate(memory_fd, 2 * _slot_bytes(n))
            self._memory = mmap.mmap(memory_fd, 2 * _slot_bytes(n))
            self._views = [_slot_arrays(self._memory, n, k) for k in range(2)]
            env = dict(os.environ)
            root = str(Path(__file__).resolve().parents[2])  # the directory that holds selfpose_ros/
            env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
            self._process = subprocess.Popen(
                [sys.executable, "-m", "selfpose_ros.sim.cast_worker", str(req_r), str(reply_w), str(memory_fd)],
                pass_fds=(req_r, reply_w, memory_fd), env=env, stdin=subprocess.DEVNULL,
                start_new_session=True)  # a terminal's Ctrl-C is the caller's to handle: it closes the worker
        finally:
            for fd in (req_r, reply_w, memory_fd):
                os.close(fd)
        self._requests, self._replies = Connection(req_w, readable=False), Connection(reply_r, writable=False)
        # a few MB: the pipe takes them as the child reads, after its imports; the caller does not wait for that
        self._sender = threading.Thread(target=self._send_scene, name="selfpose-cast-init", daemon=True,
                                        args=((raycaster.meshes, raycaster.camera.rays, nthreads),))
        self._sender.start()

    def _send_scene(self, scene: tuple) -> None:
        try:
            self._requests.send(scene)
        except OSError:
            pass  # the worker is gone: ready stays False, and close() reaps it

    @property
    def ready(self) -> bool:
        """True once the worker has built its scene (checked without waiting)."""
        if not self._ready and self.failed is None:
            try:
                if self._replies.poll():
                    self._ready = self._receive() == "ready"
                    self._sender.join()  # done: the child read the whole scene before it answered
            except (EOFError, OSError, RuntimeError) as exc:
                self._fail(f"the ray-cast worker did not start ({exc})")
        return self._ready

    def holds(self, index: int) -> bool:
        """True when frame ``index`` was submitted (its hits come from ``take``)."""
        return index in self._pending

    def submit(self, index: int, T_map_optical: np.ndarray) -> None:
        """Start the cast of frame ``index`` from ``T_map_optical`` in the slot of ``index``'s parity."""
        try:
            self._requests.send((index % 2, np.asarray(T_map_optical, dtype=np.float64)))
            self._pending.add(index)
        except OSError as exc:
            self._fail(f"the ray-cast worker went away ({exc})")

    def take(self, index: int) -> RayHits | None:
        """Wait for frame ``index``'s hits (views into the shared slots); None when the worker failed."""
        self._pending.remove(index)
        slot = index % 2
        try:
            if self._receive() != slot:
                raise RuntimeError("answered out of order")
        except (EOFError, OSError, RuntimeError) as exc:
            self._fail(f"the ray-cast worker failed ({exc})")
            return None
        v = self._views[slot]
        return RayHits(**{**v, "origin": v["origin"].copy()})

    def _receive(self):
        msg = self._replies.recv()
        if isinstance(msg, tuple) and msg and msg[0] == "error":
            raise RuntimeError(msg[1])
        return msg

    def _fail(self, reason: str) -> None:
        if self.failed is None:
            log.warning("%s; casting in this process instead", reason)
            self.failed = reason
        self._ready = False
        self._pending.clear()
        self.close()

    def close(self) -> None:
        """Stop the worker and free the shared slots (safe to call twice); never waits for a starting worker."""
        if self._process is None:
            return
        if self._ready:
            try:
                self._requests.send(None)
            except OSError:
                pass
        else:
            self._process.kill()  # still importing or building: nothing of it is needed
        self._sender.join()  # a sender still writing the scene stops with a broken pipe
        self._requests.close()
        self._replies.close()
        threading.Thread(target=self._process.wait, name="selfpose-cast-reap", daemon=True).start()
        self._process = None
        self._views = []
        try:
            self._memory.close()
        except BufferError:  # a caller still holds hits of the last frame: the mapping goes with them
            pass

    def __enter__(self) -> CastWorker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


if __name__ == "__main__":
    sys.exit(main())
