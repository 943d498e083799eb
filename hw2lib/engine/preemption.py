"""Stopping cleanly when asked: SIGTERM (a scheduler preempting the job, `kill`) or SIGINT (Ctrl-C,
a Jupyter kernel interrupt) during training.

    with StopRequest() as stop:
        for step in ...:
            train_step()
            if stop.requested:
                save_everything(); raise Preempted(...)

The handler only notes the signal; the training loop reads the note after each step (a Python
attribute: no device work), saves the run's state and stops within seconds. A second SIGINT
while stopping interrupts at once. Outside the main thread signals cannot be caught, and the
block runs without a handler.
"""
import signal
import threading

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequest:
    def __init__(self):
        self.signal = None
        self._previous = {}

    @property
    def requested(self):
        return self.signal is not None

    def _note(self, signum, frame):
        if self.signal == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt  # asked twice: stop now
        self.signal = signum

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._note) for s in SIGNALS}
        return self

    def __exit__(self, *exc):
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        return False

    @property
    def name(self):
        return signal.Signals(self.signal).name if self.requested else None
