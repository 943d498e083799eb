"""`hw2 runs`: train or reuse every run of a profile as one dependency graph.

    hw2 runs --profile homework --data-root ~/hw2_data                 # every GPU of this machine
    hw2 runs --profile homework --data-root ~/hw2_data --gpus-per-run 0.5   # two runs per GPU
    hw2 runs --profile homework --data-root /shared/hw2_data --address auto   # a Ray cluster
    hw2 runs --profile sample --only fcn8s_lovasz                      # it and its parent only
    hw2 runs --profile sample --plan                                   # what would happen, and why

A run is a node; `init_from` is an edge (the parent trains first); each seed repeat is its own
node. Without Ray, or with one device, the runs train one after another in this process. With
Ray (`--parallel N` on a CPU, several GPUs, or `--address`), each run is a Ray task in a fresh
worker process (`max_calls=1`, no silent retries) that asks for `--gpus-per-run` GPUs
(fractional packs runs onto one GPU) or, on a CPU, for its share of the cores; a child task
takes its parents' results as arguments, so Ray starts it once they are done. Nothing here
schedules: Ray does. Ray is imported only on that path, so the package trains without it.

Every run goes through `train_or_reuse`, under its run folder's lock. A failed run (an error,
or a worker that crashed: Ray's reason is kept) is reported, the runs that do not depend on it
go on, and its descendants are skipped with the reason; a run whose settings are refused fails
at once, before any worker starts for it. SIGTERM or SIGINT stops the graph cleanly: the run in
training saves its state (on Ray, each running task is cancelled, which interrupts it like a
Ctrl-C), no new run starts, and the command prints its table and exits 75.
"""
import errno
import fcntl
import importlib.util
import os
import socket
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..engine.preemption import StopRequest
from ..errors import ConfigError, Preempted
from ..numbers import fmt
from .profiles import DRY_SUFFIX, ROOT, lineage, profile_name, run_names, run_settings
from .reuse import plan, train_or_reuse

STOPPED = ("preempted", "not started")


@dataclass
class Outcome:
    name: str
    action: str        # reused | trained | continued | failed | skipped | preempted | not started
    device: str = ""
    seconds: float = 0.0
    result: str = ""   # the kept epoch's score, or the error / the reason for skipping
    worker: dict = field(default_factory=dict)  # host, pid, CUDA_VISIBLE_DEVICES
    started: float = 0.0
    finished: float = 0.0

    @property
    def ok(self):
        return self.action in ("reused", "trained", "continued")


def ordered(profile, only=(), repeats=None):
    """The profile's runs, parents before children; with `only`, those runs and their ancestors."""
    names = run_names(profile, repeats)
    unknown = sorted(set(only) - set(names))
    if unknown:
        raise ConfigError(f"--only: {', '.join(unknown)} is not a run of {profile}; runs: {', '.join(names)}")
    out = []
    for name in names:
        if not only or name in only:
            out += [n for n in lineage(profile, name) if n not in out]
    return out


def this_process():
    """Where an outcome was decided: host, pid, CUDA_VISIBLE_DEVICES."""
    return {"host": socket.gethostname(), "pid": os.getpid(),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}


def failure(name, error, worker, started):
    """A failed Outcome with the error's last line (a failed run must not stop the others)."""
    detail = traceback.format_exception_only(type(error), error)[-1].strip()
    return Outcome(name, "failed", result=detail, worker=worker, started=started, finished=time.time())


def run_one(profile, name, data_root=None, overrides=(), parents=()):
    """Train or reuse run `name`; an `Outcome`, never an exception."""
    started, worker = time.time(), this_process()
    failed = [p.name for p in parents if not p.ok]
    if failed:
        return Outcome(name, "skipped", result=f"its parent {failed[0]} did not finish", worker=worker,
                       started=started, finished=time.time())
    try:
        settings = run_settings(profile, name, data_root, overrides)
        action = plan(settings).action
        record = train_or_reuse(settings, log=lambda line: print(f"[{name}] {line}", flush=True))
    except Preempted as e:
        return Outcome(name, "preempted", result=str(e), worker=worker, started=started, finished=time.time())
    except Exception as e:
        return failure(name, e, worker, started)
    return Outcome(name, {"reuse": "reused", "resume": "continued"}.get(action, "trained"),
                   record.environment.get("device", "?"), round(time.time() - started, 1),
                   f"{record.metric} {fmt(record.kept_score())}", worker, started, time.time())


def not_started(name, stop):
    return Outcome(name, "not started", result=f"stopped by {stop.name} before it started")


def run_here(profile, names, data_root, overrides, log):
    """One after another in this process; a stop request (or a preempted run) starts no more."""
    done = {}
    with StopRequest() as stop:
        for name in names:
            if stop.requested:
                done[name] = not_started(name, stop)
                continue
            done[name] = run_one(profile, name, data_root, overrides, [done[p] for p in lineage(profile, name)[-2:-1]])
            log(f"{name}: {done[name].action} {done[name].result}")
    return [done[n] for n in names]


def ray_resources(parallel, gpus_per_run):
    """Ray task options: GPUs per run when there are GPUs, else each run's share of the cores."""
    if gpus_per_run:
        return {"num_gpus": gpus_per_run, "num_cpus": 1}
    return {"num_cpus": max(1, (os.cpu_count() or 1) // max(1, parallel))}


def _threads_then_run(threads, profile, name, data_root, overrides, *parents):
    """The body of a Ray task: in a fresh worker, with the driver's thread count (a run's numbers
    depend on it, so a key means the same numbers on both paths) and the overrides."""
    torch.set_num_threads(threads)
    return run_one(profile, name, data_root, overrides, parents)


def import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("parallel runs need Ray, which is not installed here: `pip install ray`, "
                          "or run without --parallel and --address (one run at a time)") from None
    return ray


def start_ray(address):
    """Join the cluster at `address`, or start a local Ray with this machine's cores and GPUs."""
    ray = import_ray()
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, configure_logging=False,
                 **({} if address else {"num_cpus": os.cpu_count() or 1}))
    return ray


def probe_nodes(ray, data_root):
    """On a cluster, every node must see the same runs/ folder and data (a shared filesystem)
    and lock files there: one probe task per node says what it finds; an error names the nodes
    that cannot."""
    probe = ray.remote(num_cpus=0)(shared_filesystem_probe)
    nodes = [n for n in ray.nodes() if n["Alive"]]
    lines = ray.get([probe.options(resources={f"node:{n['NodeManagerAddress']}": 0.001})
                     .remote(ROOT / "runs", data_root) for n in nodes])
    blind = [line for line in lines if "NOT" in line]
    if blind:
        raise ConfigError("runs/ and the data must be on a filesystem every node shares and can lock; "
                          + "; ".join(blind))
    return lines


def ray_failure(name, error):
    """A failed Outcome from a Ray error (a crashed worker, a task's exception), with Ray's reason."""
    reason = " ".join(str(error).split())[:400]
    return Outcome(name, "failed", result=f"{type(error).__name__}: {reason}", finished=time.time())


def refused(profile, name, data_root, overrides):
    """The failed Outcome of run `name` when its settings are refused, else None. Checked in the
    driver: in a Ray task the same error would come seconds later, after a worker process started
    and imported torch."""
    started = time.time()
    try:
        run_settings(profile, name, data_root, overrides)
    except Exception as e:
        return failure(name, e, this_process(), started)
    return None


def run_on_ray(profile, names, data_root, overrides, parallel, gpus_per_run, address, *, log):
    """Every run as a Ray task; outcomes collected one by one as they finish."""
    ray = start_ray(address)
    if address is not None:
        for line in probe_nodes(ray, data_root):
            log(f"node {line}")
    remote = ray.remote(max_calls=1, max_retries=0, **ray_resources(parallel, gpus_per_run))(_threads_then_run)
    refs, outcomes = {}, {}
    for name in names:  # parents first: a child's arguments are its parents' results
        up = lineage(profile, name)[-2:-1]
        failed_parents = [outcomes[p] for p in up if p in outcomes]
        # Its settings are refused, or an ancestor's were: reported now, with no worker started for it.
        outcome = (run_one(profile, name, data_root, overrides, failed_parents) if failed_parents
                   else refused(profile, name, data_root, overrides))
        if outcome is None:
            refs[name] = remote.remote(torch.get_num_threads(), profile, name, data_root, list(overrides),
                                       *[refs[p] for p in up])
        else:
            outcomes[name] = outcome
            log(f"{name}: {outcome.action} {outcome.result}")
    pending = {ref: name for name, ref in refs.items()}
    with StopRequest() as stop:
        cancelled = False
        while pending:
            if stop.requested and not cancelled:  # interrupts the running tasks: each saves its state
                for ref in pending:
                    ray.cancel(ref, force=False)
                cancelled = True
            done, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref in done:
                name = pending.pop(ref)
                try:
                    outcomes[name] = ray.get(ref)
                except ray.exceptions.TaskCancelledError:
                    outcomes[name] = not_started(name, stop)
                except ray.exceptions.RayError as e:
                    outcomes[name] = ray_failure(name, e)
                log(f"{name}: {outcomes[name].action} {outcomes[name].result}")
    for name in names:  # a task whose parent crashed fails with its parent's error: it was skipped
        up = lineage(profile, name)[-2:-1]
        if outcomes[name].action == "failed" and up and not outcomes[up[0]].ok:
            outcomes[name] = Outcome(name, "skipped", result=f"its parent {up[0]} did not finish")
    return [outcomes[n] for n in names]


def train_all(profile, data_root=None, *, dry_run=False, only=(), overrides=(), repeats=None, parallel=None,
              gpus_per_run=None, address=None, log=print):
    """Every run of the profile (or `only` those and their ancestors), trained or reused; the
    outcomes in graph order.

    Without `parallel` and `address`: one run per GPU on Ray where there are several GPUs (and
    Ray), else one after another in this process. On a CPU one at a time: two runs sharing two
    cores finished the sample report only 6% sooner, the longest run took twice as long on its
    one core (bench/RESULTS.md)."""
    profile = profile_name(profile) + (DRY_SUFFIX if dry_run and not profile.endswith(DRY_SUFFIX) else "")
    names = ordered(profile, only, repeats)
    gpus = torch.cuda.device_count()
    if gpus_per_run is None:
        gpus_per_run = 1 if gpus else 0
    if parallel is None and address is None:
        packed = gpus and gpus_per_run < 1
        if (gpus > 1 or packed) and ray_available():
            parallel = max(1, int(gpus / gpus_per_run))
        else:
            return run_here(profile, names, data_root, overrides, log)
    return run_on_ray(profile, names, data_root, overrides, parallel or 1, gpus_per_run, address, log=log)


def plan_lines(profile, data_root=None, *, dry_run=False, only=(), overrides=(), repeats=None):
    """What `hw2 runs` would do with each run, and why, without training: `hw2 runs --plan`."""
    profile = profile_name(profile) + (DRY_SUFFIX if dry_run and not profile.endswith(DRY_SUFFIX) else "")
    lines = []
    for name in ordered(profile, only, repeats):
        decided = plan(run_settings(profile, name, data_root, overrides))
        lines.append(f"{name}: {decided.action}" + (f" ({decided.reason})" if decided.reason else ""))
    return lines


def ray_available():
    return importlib.util.find_spec("ray") is not None


def outcome_table(outcomes):
    """The table `hw2 runs` ends with."""
    rows = [("run", "what happened", "device", "seconds", "result")]
    rows += [(o.name, o.action, o.device + (f" [GPU {o.worker['cuda_visible_devices']}]"
                                           if o.worker.get("cuda_visible_devices") else ""),
              f"{o.seconds:.0f}", o.result) for o in outcomes]
    widths = [max(len(r[k]) for r in rows) for k in range(4)]
    return "\n".join("  ".join(r[k].ljust(widths[k]) for k in range(4)) + "  " + r[4] for r in rows)


def can_lock(folder):
    """Whether files in `folder` can be locked (flock): Lustre mounted without -o flock cannot."""
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".hw2-lock-probe-") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                return False
            raise
        return True


def shared_filesystem_probe(runs_dir, data_root):
    """Run on every node of a cluster: can it see the runs folder and the data, and lock files
    there? One line per node."""
    runs_dir = Path(runs_dir)
    seen = runs_dir.is_dir()
    locks = "locks work" if seen and can_lock(runs_dir) else "locks NOT supported (on Lustre: mount with -o flock)"
    return (f"{socket.gethostname()}: runs/ {'visible' if seen else 'NOT visible'}, "
            f"data {'visible' if data_root is None or Path(data_root).is_dir() else 'NOT visible'}"
            + (f", {locks}" if seen else ""))
