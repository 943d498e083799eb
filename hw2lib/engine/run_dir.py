"""The run folder: the one place that knows what a run writes and where.

    runs/<profile>/<run>/
      metrics.json                the run's record (`RunRecord`): settings, history per epoch, the
                                  kept epoch, snapshots...
      kept.pt                     weights of the kept epoch (the settings' `select` rule)
      last.pt                     everything to resume; its optimiser state is dropped when the
                                  run completes (unless keep_last), and the file with it
      epoch_<k>.pt                weights kept for keep_checkpoints (an early one for t-SNE)
      evaluation/<tag>.npz        per-item results of an evaluated checkpoint ("kept", "final"):
                                  confusion matrices per tile, or labels and predictions per image
      snapshots/input/<id>.png    the snapshot tiles' images and ground truth, native size
      snapshots/truth/<id>.png
      snapshots/<epoch>/<id>.png  their predicted masks at that epoch

A fresh run is built in a staging folder beside the old one and swapped in once its first epoch
is saved, so a failed start leaves the old run intact and a new run never mixes with an old one.
Readers (grids, inspector, tables) take the epochs and tiles from the record, never from a
folder listing. While a process trains a run it holds the run's lock, a file `.<run>.lock`
beside the folder: another process asking for the same run waits, then finds it finished.
"""
import contextlib
import errno
import fcntl
import io
import json
import shutil
from pathlib import Path

import numpy as np

from ..atomic import atomic_path, write_json
from ..errors import CheckpointError, DataError
from ..data.images import read_rgb, write_png
from .checkpoint import load_checkpoint, save_checkpoint
from .record import RunRecord

METRICS = "metrics.json"
_HELD = {}  # lock file -> how often this process holds it (a holder may ask again)


class RunDir:
    def __init__(self, path):
        self.path = Path(path)

    def __repr__(self):
        return f"RunDir({str(self.path)!r})"

    def __fspath__(self):
        return str(self.path)

    # --- checkpoints -------------------------------------------------------------------------
    def checkpoint(self, which):
        """Path of "kept", "last" or the checkpoint kept of epoch `which` (an int)."""
        return self.path / (f"epoch_{which}.pt" if isinstance(which, int) else f"{which}.pt")

    def save_checkpoint(self, which, state):
        """Write checkpoint `which`; return the sha256 of its bytes."""
        return save_checkpoint(self.checkpoint(which), state)

    def load_checkpoint(self, which, map_location="cpu"):
        return load_checkpoint(self.checkpoint(which), map_location)

    def drop_checkpoint(self, which):
        self.checkpoint(which).unlink(missing_ok=True)

    # --- the record --------------------------------------------------------------------------
    def has_record(self):
        return (self.path / METRICS).is_file()

    def record(self):
        """The run's `RunRecord`, NaN scores (null in the file) read back as NaN."""
        path = self.path / METRICS
        if not path.is_file():
            raise DataError(f"{path}: no such run record (has the run been trained?)")
        return RunRecord.from_dict(json.loads(path.read_text()))

    def write_record(self, record):
        write_json(self.path / METRICS, record.to_dict())

    # --- per-item evaluation results -----------------------------------------------------------
    def save_evaluation(self, tag, **arrays):
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        with atomic_path(self.path / "evaluation" / f"{tag}.npz") as tmp:
            tmp.write_bytes(buf.getvalue())

    def evaluation(self, tag):
        """The arrays saved for `tag` ("kept" or "final") as a dict."""
        path = self.path / "evaluation" / f"{tag}.npz"
        if not path.is_file():
            raise DataError(f"{path}: no saved evaluation (retrain the run with this version)")
        with np.load(path) as data:
            return {k: data[k] for k in data.files}

    # --- snapshots ---------------------------------------------------------------------------
    def snapshot_path(self, kind, tile):
        """kind: "input", "truth", or an epoch number."""
        return self.path / "snapshots" / str(kind) / f"{tile}.png"

    def write_snapshot(self, kind, tile, rgb):
        write_png(self.snapshot_path(kind, tile), rgb)

    def snapshot(self, kind, tile):
        return read_rgb(self.snapshot_path(kind, tile))

    # --- fresh runs --------------------------------------------------------------------------
    def staging(self):
        """An empty folder beside this one where a fresh run is built."""
        staging = RunDir(self.path.with_name(f".{self.path.name}.new"))
        shutil.rmtree(staging.path, ignore_errors=True)
        staging.path.mkdir(parents=True)
        return staging

    def discard(self):
        """Delete this folder (a staging folder whose run saved nothing)."""
        shutil.rmtree(self.path, ignore_errors=True)

    def replace(self, staging):
        """Swap `staging` in as this run folder; whatever was here before is deleted whole."""
        old = self.path.with_name(f".{self.path.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if self.path.exists():
            self.path.rename(old)
        staging.path.rename(self.path)
        shutil.rmtree(old, ignore_errors=True)
        return self

    @contextlib.contextmanager
    def lock(self, log=None):
        """Hold this run's lock while the block runs; wait (saying so through `log`) while
        another process holds it."""
        path = self.path.with_name(f".{self.path.name}.lock")
        if _HELD.get(path):
            _HELD[path] += 1
            try:
                yield
            finally:
                _HELD[path] -= 1
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if log is not None:
                    log(f"{self.path.name}: another process is training it; waiting for it")
                fcntl.flock(f, fcntl.LOCK_EX)
            except OSError as e:
                if e.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                    raise DataError(f"{path}: this filesystem does not support file locks (flock), which keep two "
                                    "processes from training one run; on Lustre, mount it with -o flock") from None
                raise
            _HELD[path] = 1
            try:
                yield
            finally:
                del _HELD[path]  # closing the file releases the lock

    def require_resumable(self):
        """The path of last.pt, or a clear error saying why this run cannot be continued."""
        last = self.checkpoint("last")
        if last.is_file():
            return last
        if self.has_record() and self.record().complete:
            raise CheckpointError(f"{self.path} is complete and its optimiser state was dropped "
                                  "(keep_last: false); retrain it with keep_last: true to extend it")
        raise CheckpointError(f"{last}: no such checkpoint to resume from")
