"""Stopping cleanly when asked: SIGTERM (a scheduler preempting the job, `kill`) or SIGINT (Ctrl-C,
a Jupyter kernel interrupt, Ray cancelling a task) at any point of a job.

    with StopRequest() as stop:
        for step in ...:
            train_step()
            if stop.requested:
                save_everything(); raise Preempted(...)

The handler only notes the signal; the code reads the note where it can stop cleanly (after a
step, after an epoch's save, between the runs of `hw2 runs`: a Python attribute, no device work)
and stops within seconds. Blocks may nest (`hw2 runs` around each run's training): they share
one note, so a signal that arrives between two runs, or during a validation or a save, is never
lost. A second SIGINT while stopping interrupts at once. Outside the main thread signals cannot
be caught, and the block runs without a handler.
"""
import signal
import threading

SIGNALS = (signal.SIGTERM, signal.SIGINT)
_noted = {"signal": None, "depth": 0, "previous": {}}  # shared by every open StopRequest


def _note(signum, frame):
    if _noted["signal"] == signal.SIGINT and signum == signal.SIGINT:
        raise KeyboardInterrupt  # asked twice: stop now
    _noted["signal"] = signum


class StopRequest:
    @property
    def requested(self):
        return _noted["signal"] is not None

    @property
    def name(self):
        return signal.Signals(_noted["signal"]).name if self.requested else None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            if _noted["depth"] == 0:
                _noted["previous"] = {s: signal.signal(s, _note) for s in SIGNALS}
            _noted["depth"] += 1
        return self

    def __exit__(self, *exc):
        if threading.current_thread() is threading.main_thread():
            _noted["depth"] -= 1
            if _noted["depth"] == 0:
                for s, handler in _noted["previous"].items():
                    signal.signal(s, handler)
                _noted["signal"] = None
        return False
