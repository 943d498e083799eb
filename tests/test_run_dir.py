import subprocess
import sys
import time

from hw2lib.engine.run_dir import RunDir

HOLD = """
import sys, time
from hw2lib.engine.run_dir import RunDir
with RunDir(sys.argv[1]).lock():
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_a_run_lock_keeps_a_second_process_waiting_and_may_be_taken_again_by_its_holder(tmp_path):
    run = RunDir(tmp_path / "fcn8s")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run.path), "2"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    said, start = [], time.monotonic()
    with run.lock(log=said.append):
        waited = time.monotonic() - start
        with run.lock():  # the holder asks again: no deadlock
            pass
    holder.wait()
    assert waited > 1.0 and said == ["fcn8s: another process is training it; waiting for it"]
    assert (tmp_path / ".fcn8s.lock").is_file() and not run.path.exists()
