"""Where a run stands, and the files that let it continue: a fresh start, a resume from
`last.pt`, the kept epoch's files, `last.pt` itself.

`last.pt` holds the weights, the optimiser, the record and, for a run stopped part-way through
an epoch, every DDP rank's generators and loss sums. It is loaded onto the CPU whatever the
run's device (generator states must be CPU tensors), and a part-way state from another device
type is refused with a clear error (its generators cannot continue there).

The kept epoch's weights and per-item evaluation are held in memory when `select` keeps an
epoch, and written (`kept.pt`, `evaluation/kept.npz`) together with `last.pt` and at the end.
So after any crash `kept.pt`, `evaluation/kept.npz` and the record in `metrics.json` and in
`last.pt` describe the same epoch: the record names only kept weights that are on disk.
"""
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import torch

from ..errors import CheckpointError
from ..settings import RunSettings
from .checkpoint import compact_state_dict, load_checkpoint
from .record import RunRecord
from .run_key import data_fingerprints, key_of, key_parts
from .snapshots import write_snapshot_inputs


def now_utc():
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class KeptEpoch:
    """The epoch `select` keeps, until it is written: its record entry and its files' contents."""
    entry: dict        # what goes into record.kept
    weights: dict      # kept.pt's payload, tensors on the CPU
    items: dict        # evaluation/kept.npz's arrays


@dataclass
class RunState:
    """Where the run stands: its record, the folder it writes, the next epoch, a stopped epoch's
    partial state, the kept epoch not yet written, and when last.pt was last written."""
    record: RunRecord
    writer: object                 # the RunDir written to (a staging folder until the first save)
    next_epoch: int
    partial: dict = None
    pending: KeptEpoch = None
    last_saved: float = field(default_factory=time.monotonic)
    started: float = field(default_factory=time.time)
    wall_before: float = 0.0

    def stamp_wall_time(self):
        """The record's wall time: this process's share plus the time before a resume."""
        self.record.wall_time_s = round(self.wall_before + time.time() - self.started, 3)

    def kept_so_far(self):
        """The kept epoch's entry the rule compares with: pending, else the one on disk."""
        return self.pending.entry if self.pending is not None else self.record.kept


def checkpoint_payload(s, epoch, state_dict):
    """What every checkpoint of the run holds besides its own extras."""
    return {"model": state_dict, "params": s.settings.flat(), "epoch": epoch,
            "num_classes": s.task.num_classes, "precision": s.precision}


def start_run(s):
    """A fresh run: built in a staging folder beside the old one until it has saved something."""
    ids = s.task.snapshot_ids
    parts = key_parts(s.settings)
    record = RunRecord(params=s.settings.flat(), cache_key=key_of(parts), key_parts=parts, started_at=now_utc(),
                       snapshots={"ids": ids, "tile_miou": {}},
                       data={"train": len(s.train_set.images), "val": len(s.val_set.images),
                             "val_split": s.task.items_in(s.task.val_folder)})
    writer = s.run.staging() if s.ddp.main else s.run
    if s.ddp.main and ids:
        write_snapshot_inputs(writer, s.task.val_folder, ids, s.task.spec)
    return RunState(record, writer, next_epoch=1)


def check_resumable(state, s, world, extend, path):
    """Refuse a resume that would not continue the same run, naming every difference."""
    saved = RunSettings.build(state["params"])
    epochs, planned = s.train.epochs, saved.train.epochs
    diff = [d for d in s.differences(saved) if not d.startswith("epochs:")]
    if state.get("world_size", 1) != world:
        diff.append(f"world size: {state.get('world_size', 1)} -> {world}")
    if diff:
        raise CheckpointError(f"cannot resume {path}: parameters differ from the checkpoint's: "
                              + "; ".join(diff))
    if extend and epochs <= planned:
        raise CheckpointError(f"--extend needs more epochs than the {planned} planned; got epochs {epochs}")
    if not extend and epochs != planned:
        raise CheckpointError(f"cannot resume {path}: epochs {planned} -> {epochs}; "
                              "use --resume --extend to continue as a warm restart over the new total")
    if state["epoch"] >= epochs:
        raise CheckpointError(f"{path} is already trained to epoch {state['epoch']} of {epochs}")
    trained_on = state["record"].get("key_parts", {}).get("data", {})
    now = data_fingerprints(s)
    changed = [split for split in now if trained_on.get(split) != now[split]]
    if changed:
        raise CheckpointError(f"cannot resume {path}: the data of {', '.join(changed)} changed since it was "
                              "saved; train the run afresh")


def this_ranks_partial(partial, s, path):
    """The part-way state of this DDP rank, or a clear refusal when it comes from another device type."""
    if partial is None:
        return None
    if partial["device_type"] != s.device.type:
        raise CheckpointError(
            f"cannot resume {path}: it stopped part-way through epoch {partial['epoch']} on "
            f"{partial['device_type']}, whose random generators cannot continue on {s.device.type}; resume it "
            f"on a {partial['device_type']} device, or delete last.pt to train the run afresh")
    return {**partial, **partial["ranks"][s.ddp.rank]}


def resume_run(s, extend):
    """The run continued from its last.pt (after a whole epoch, or in the middle of one)."""
    path = s.run.require_resumable()
    state = load_checkpoint(path, map_location="cpu")  # generator states must stay CPU tensors
    check_resumable(state, s.settings, s.ddp.world, extend, path)
    partial = this_ranks_partial(state.get("partial"), s, path)
    s.raw_model.load_state_dict(state["model"])
    s.optim.load_state_dict(state, path)
    record = RunRecord.from_dict(state["record"])
    if extend:
        record.schedule_replanned.append({"after_epoch": state["epoch"], "epochs": s.settings.train.epochs})
        s.log(f"extending {s.run.path} from {record.params['epochs']} to {s.settings.train.epochs} epochs: "
              "warm restart, the learning-rate schedule is re-planned over the new total")
        # The key follows what the run was trained with: the new params and the re-planning.
        record.key_parts = key_parts(s.settings, record.schedule_replanned)
        record.cache_key = key_of(record.key_parts)
    record.params, record.complete, record.finished_at = s.settings.flat(), False, None
    where = f"epoch {state['epoch'] + 1}, step {partial['step']}" if partial else f"epoch {state['epoch']}"
    s.log(f"resuming {s.run.path} after {where}")
    return RunState(record, s.run, state["epoch"] + 1, partial, wall_before=record.wall_time_s)


def hold_kept(s, state, row, cm, items):
    """Keep this epoch in memory (its files are written with the next last.pt, or at the end)."""
    entry = state.record.kept_entry(row, cm, s.task.kept_details(cm))
    if not s.ddp.main:
        state.pending = KeptEpoch(entry, {}, {})
        return
    weights = {k: v.detach().cpu().clone() for k, v in compact_state_dict(s.raw_model, s.precision).items()}
    state.pending = KeptEpoch(entry, {**checkpoint_payload(s, row["epoch"], weights), "metrics": row}, items)


def write_kept(s, state):
    """Write the pending kept epoch's files and name it in the record."""
    if state.pending is None:
        return
    if s.ddp.main:
        digest = state.writer.save_checkpoint("kept", state.pending.weights)
        state.writer.save_evaluation("kept", epoch=state.pending.entry["epoch"], **state.pending.items)
        state.record.kept = {**state.pending.entry, "weights_sha256": digest}
    else:
        state.record.kept = state.pending.entry
    state.pending = None


def save_state(s, state, epoch, partial=None):
    """last.pt: everything a resume needs (after the kept epoch's files). `epoch` is the last
    completed epoch; `partial` the state of the next one when it stopped part-way."""
    write_kept(s, state)
    state.stamp_wall_time()
    state.writer.save_checkpoint("last", {**checkpoint_payload(s, epoch, s.raw_model.state_dict()),
                                          **s.optim.state_dict(), "world_size": s.ddp.world,
                                          "record": state.record.to_dict(), "partial": partial})
    state.last_saved = time.monotonic()
    swap_in(s, state)


def swap_in(s, state):
    """Once a fresh run has saved something, it replaces the old run folder whole."""
    if state.writer is not s.run:
        state.writer = s.run.replace(state.writer)


def rng_states(device):
    states = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    return states


def set_rng_states(states, device):
    torch.set_rng_state(states["cpu"].cpu())
    if "cuda" in states:
        torch.cuda.set_rng_state(states["cuda"].cpu(), device)
