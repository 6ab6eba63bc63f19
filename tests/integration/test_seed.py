"""The fork server's seed (coinlstm/app/runtime/executors/seed.py), each case in a fresh
interpreter of its own: a pytest worker has threads, so it never plants one.

A seed is planted only while its process has one thread, ends with its block when nobody
took it (and when its process dies), grows into a server whose children run tasks as a fresh
server's do, and a seed that cannot become the server is followed by a fresh one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

from tests.helpers import REPO, alive, wait_for

#: Shared by the scripts: the helpers above, as the child needs them.
PRELUDE = """
import json, os, subprocess, sys, threading
from pathlib import Path
from coinlstm.app.runtime.executors.seed import seeded
from coinlstm.app.runtime.executors.forkclient import ForkServer

def alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")

def parent_of(pid):
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])

def task(server, code, tmp):
    child = server.start([sys.executable, "-c", code, str(tmp)], dict(os.environ),
                         Path(tmp) / "task.log")
    return child.pid, child.wait()[0]

report = {}

# A task that starts JAX's backend, registers an atexit handler of its own and marks JAX's
# atexit teardown (which clears the backends it started) when that runs.
TEARDOWN_PROBE = (
    "import atexit, sys, jax; from jax._src import api; jax.devices(); tmp = sys.argv[1]\\n"
    "mark = lambda name: open(f'{tmp}/exit-{name}', 'w').close()\\n"
    "api.clear_backends = lambda *args, **kwargs: mark('jax-teardown')\\n"
    "atexit.register(mark, 'own-handler')\\n"
    "import typing; typing._cleanups.append(lambda: mark('typing-caches'))\\n")
"""


def _script(body: str, tmp_path, *args: str) -> dict:
    """Run PRELUDE + ``body`` in a fresh interpreter; the ``report`` dict it printed."""
    code = PRELUDE + textwrap.dedent(body) + "\nprint(json.dumps(report))\n"
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_an_unused_seed_ends_with_its_block_and_a_threaded_process_plants_none(tmp_path):
    report = _script("""
        with seeded() as seed:
            report["pid"] = seed.pid
            report["alive_inside"] = alive(seed.pid)
            report["parent"] = parent_of(seed.pid) == os.getpid()
        report["alive_after"] = alive(seed.pid) or Path(f"/proc/{seed.pid}").exists()
        with seeded(False) as seed:
            report["unwanted"] = seed is None
        threading.Thread(target=threading.Event().wait, daemon=True).start()
        with seeded() as seed:
            report["threaded"] = seed is None
    """, tmp_path)
    assert report["alive_inside"] and report["parent"]
    assert report["alive_after"] is False  # ended and reaped: no zombie either
    assert report["unwanted"] and report["threaded"]


def test_a_seed_grows_into_the_server_and_its_children_run_tasks(tmp_path):
    report = _script("""
        tmp = Path(sys.argv[1])
        with seeded() as seed:
            server = ForkServer("jax", dict(os.environ), tmp / "server.log")
            report["same_pid"] = server.pid == seed.pid
            report["seeded"] = server.seeded
            report["parent"] = parent_of(server.pid) == os.getpid()
            code = "import os, sys; open(sys.argv[1] + '/ppid', 'w').write(str(os.getppid()));" \\
                   "sys.exit(3)"
            pid, exit_code = task(server, code, tmp)
            report["task_parent"] = int((tmp / "ppid").read_text()) == server.pid
            report["exit_code"] = exit_code
            # The server searched JAX's plugins before forking (forkserver._warm_up): the
            # child's backend starts without that search, and starts.
            code = ("import sys, jax; from jax._src import xla_bridge; "
                    "searched = xla_bridge._plugins_registered; jax.devices(); "
                    "sys.exit(0 if searched else 4)")
            report["plugins_searched"] = task(server, code, tmp)[1] == 0
            # The child ends with its own atexit handlers run but not JAX's teardown nor
            # the clearing of typing's caches (train.backend.skip_jax_teardown); a fresh
            # interpreter runs all three.
            task(server, TEARDOWN_PROBE, tmp)
            report["forked_exit"] = sorted(p.name for p in tmp.glob("exit-*"))
            fresh = tmp / "fresh"
            fresh.mkdir()
            subprocess.run([sys.executable, "-c", TEARDOWN_PROBE, str(fresh)], check=True)
            report["fresh_exit"] = sorted(p.name for p in fresh.glob("exit-*"))
            server.close()
            report["server_alive"] = alive(server.pid)
    """, tmp_path)
    assert report == {"same_pid": True, "seeded": True, "parent": True, "task_parent": True,
                      "exit_code": 3, "plugins_searched": True,
                      "forked_exit": ["exit-own-handler"],
                      "fresh_exit": ["exit-jax-teardown", "exit-own-handler",
                                     "exit-typing-caches"],
                      "server_alive": False}
    assert (tmp_path / "server.log").exists()


def test_a_seed_that_died_is_followed_by_a_fresh_server(tmp_path):
    report = _script("""
        import signal
        tmp = Path(sys.argv[1])
        with seeded() as seed:
            os.kill(seed.pid, signal.SIGKILL)
            server = ForkServer("jax", dict(os.environ), tmp / "server.log")
            report["seeded"] = server.seeded
            report["failure"] = server.seed_failure
            report["fresh"] = server.pid != seed.pid
            code = "import sys; sys.exit(0)"
            report["exit_code"] = task(server, code, tmp)[1]
            server.close()
    """, tmp_path)
    assert report["seeded"] is False and report["fresh"] and report["exit_code"] == 0
    assert report["failure"] == "the fork server ended (killed by signal SIGKILL)", report


def test_a_seed_ends_when_its_process_is_killed(tmp_path):
    code = PRELUDE + textwrap.dedent("""
        with seeded() as seed:
            print(seed.pid, flush=True)
            threading.Event().wait()
    """)
    process = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, text=True,
                               stdout=subprocess.PIPE, env=dict(os.environ,
                                                                OPENBLAS_NUM_THREADS="1"))
    seed = int(process.stdout.readline())
    assert alive(seed)
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stdout.close()
    wait_for(lambda: not alive(seed), timeout=10, what="the seed's end")
