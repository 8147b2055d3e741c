"""A real one-node SLURM cluster on loopback for the tests: munge, slurmctld and slurmd started as root from the
Debian packages (`.ci/run` installs them), with a generated ``slurm.conf``, and stopped by PID afterwards.

Two partitions on the one node, named as ``workflow/profiles/slurm`` names them (``cpu``, ``gpu``), and two GPUs
as generic resources bound to ``/dev/null`` and ``/dev/zero``: SLURM accounts for them and grants ``--gpus=1``
exactly as on a GPU node, while the jobs themselves find no CUDA device and run on the CPU. No accounting
daemon: clients ask ``squeue`` (``MinJobAge`` keeps finished jobs listed for five minutes).

The configuration goes to ``/etc/slurm/slurm.conf``, SLURM's compiled-in default, because the executor plugin's job
step drops every ``SLURM_*`` variable (``SLURM_CONF`` with them) before its inner ``srun``. An existing file
there is never replaced: the cluster refuses to start instead (:class:`ClusterUnavailable`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

ETC = Path("/etc/slurm")
MUNGE_RUN = Path("/run/munge")
COMMANDS = ("munged", "munge", "unmunge", "runuser", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "srun")
#: Where Debian puts the daemons; not on every PATH (a non-login shell's, say).
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
MARK = "# written by fasrnet's tests (tests/workflow/slurm_cluster.py); removed when they stop\n"
START_TIMEOUT_S = 30
PARTITIONS = ("cpu", "gpu")  # as workflow/profiles/slurm/config.yaml names them
GPUS = ("/dev/null", "/dev/zero")  # character devices SLURM can bind; nothing reads them
MEMORY_MB = 8000  # the node's RealMemory: below this machine's 24 GiB, above every job the test profile asks for


class ClusterUnavailable(RuntimeError):
    """The cluster cannot run here (not root, packages missing, a SLURM configuration already present)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, what: str, timeout: float = START_TIMEOUT_S) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise RuntimeError(f"SLURM test cluster: {what} within {timeout:.0f} s")


def _read_pid(pidfile: Path, what: str) -> int:
    """The PID a daemon wrote: it creates the file before it writes the number, so wait for the number too."""
    _wait(lambda: pidfile.exists() and pidfile.read_text().strip().isdigit(), what)
    return int(pidfile.read_text())


def _alive(pid: int) -> bool:
    """Running, not a zombie: the daemons detach, and PID 1 of a container may never reap them."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


class LocalSlurm:
    """Start with :meth:`start`, stop with :meth:`stop` (every daemon it started, by PID, and the files it wrote
    under /etc/slurm). ``root`` holds the state, spool, logs and PID files."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.host = socket.gethostname().split(".")[0]
        self.pids: dict[str, int] = {}
        self.written: list[Path] = []
        self.env = {k: v for k, v in os.environ.items() if k != "SLURM_CONF"} | {"PATH": SEARCH_PATH}

    # --- set-up ---------------------------------------------------------------------------------------------
    @staticmethod
    def check() -> None:
        """Raise :class:`ClusterUnavailable` naming what is missing."""
        if os.geteuid() != 0:
            raise ClusterUnavailable("the SLURM daemons run as root here, and the tests are not root")
        missing = [d for d in COMMANDS if shutil.which(d, path=SEARCH_PATH) is None]
        if missing:
            raise ClusterUnavailable(f"not installed: {', '.join(missing)} (Debian: apt-get install slurm-wlm "
                                     "slurmctld slurmd slurm-client munge)")
        for name in ("slurm.conf", "gres.conf"):
            path = ETC / name
            if path.exists() and not path.read_text().startswith(MARK):
                raise ClusterUnavailable(f"{path} exists (a real SLURM set-up?); the tests will not replace it")

    def config(self) -> str:
        r = self.root
        cpus = len(os.sched_getaffinity(0))
        lines = {
            "ClusterName": "fasrnet-test",
            "SlurmctldHost": f"{self.host}(127.0.0.1)",
            "SlurmctldPort": _free_port(), "SlurmdPort": _free_port(),
            "AuthType": "auth/munge", "SlurmUser": "root", "SlurmdUser": "root",
            "StateSaveLocation": r / "state", "SlurmdSpoolDir": r / "spool",
            "SlurmctldPidFile": r / "slurmctld.pid", "SlurmdPidFile": r / "slurmd.pid",
            "SlurmctldLogFile": r / "slurmctld.log", "SlurmdLogFile": r / "slurmd.log",
            "ProctrackType": "proctrack/linuxproc", "TaskPlugin": "task/none",
            "SelectType": "select/cons_tres", "SelectTypeParameters": "CR_Core_Memory",
            "ReturnToService": 2, "MinJobAge": 300, "MailProg": "/bin/true",
            "JobAcctGatherType": "jobacct_gather/none", "AccountingStorageType": "accounting_storage/none",
            "GresTypes": "gpu", "MpiDefault": "none",
        }
        text = MARK + "".join(f"{k}={v}\n" for k, v in lines.items())
        text += (f"NodeName={self.host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={MEMORY_MB} "
                 f"Gres=gpu:{len(GPUS)} State=UNKNOWN\n")
        for i, name in enumerate(PARTITIONS):
            text += f"PartitionName={name} Nodes=ALL MaxTime=INFINITE State=UP{' Default=YES' if i == 0 else ''}\n"
        return text

    def _write(self, path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        self.written.append(path)

    def _start_munge(self) -> None:
        if self._munge_answers():
            return  # a munged already runs (not ours: left alone)
        MUNGE_RUN.mkdir(parents=True, exist_ok=True)
        shutil.chown(MUNGE_RUN, "munge", "munge")
        pidfile = MUNGE_RUN / "munged.pid"
        subprocess.run(["runuser", "-u", "munge", "--", shutil.which("munged", path=SEARCH_PATH), "--force"],
                       check=True, capture_output=True, env=self.env)
        self.pids["munged"] = _read_pid(pidfile, "munged wrote no PID")
        _wait(self._munge_answers, "munge did not answer")

    def _munge_answers(self) -> bool:
        return subprocess.run("munge -n | unmunge", shell=True, capture_output=True, env=self.env).returncode == 0

    def start(self) -> "LocalSlurm":
        self.check()
        for sub in ("state", "spool"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._write(ETC / "slurm.conf", self.config())
        self._write(ETC / "gres.conf", MARK + "".join(f"NodeName={self.host} Name=gpu File={f}\n" for f in GPUS))
        try:
            self._start_munge()
            for daemon in ("slurmctld", "slurmd"):
                subprocess.run([shutil.which(daemon, path=SEARCH_PATH)], check=True, capture_output=True,
                               env=self.env)
                pidfile = self.root / f"{daemon}.pid"
                self.pids[daemon] = _read_pid(pidfile, f"{daemon} wrote no PID (log: {self.root / (daemon + '.log')})")
            _wait(lambda: self.node_state() == "idle", f"the node did not come up idle (state {self.node_state()!r};"
                  f" logs in {self.root})")
        except BaseException:
            self.stop()
            raise
        return self

    # --- use ------------------------------------------------------------------------------------------------
    def node_state(self) -> str:
        out = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, env=self.env)
        return out.stdout.split("\n")[0].strip() if out.returncode == 0 else ""

    def jobs(self) -> dict[int, dict[str, str]]:
        """Every job the controller still lists (finished ones too): id → name, state, partition, GPUs asked."""
        fields = ("JobID", "Name", "State", "Partition", "tres-per-job", "WorkDir")
        fmt = ",".join(f"{f}:|" for f in fields)  # '|' separates; widths unbounded
        out = subprocess.run(["squeue", "-h", "-t", "all", "-O", fmt], capture_output=True, text=True,
                             env=self.env, check=True).stdout
        jobs = {}
        for line in out.splitlines():
            values = [v.strip() for v in line.split("|")][: len(fields)]
            row = dict(zip(fields, values))
            jobs[int(row.pop("JobID"))] = row
        return jobs

    # --- tear-down ------------------------------------------------------------------------------------------
    def stop(self) -> None:
        for name in ("slurmd", "slurmctld", "munged"):
            pid = self.pids.pop(name, None)
            if pid is None or not _alive(pid):
                continue
            os.kill(pid, signal.SIGTERM)
            end = time.monotonic() + START_TIMEOUT_S
            while _alive(pid) and time.monotonic() < end:
                time.sleep(0.1)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        for path in self.written:
            if path.exists() and path.read_text().startswith(MARK):
                path.unlink()
        self.written.clear()
