"""A Spark standalone cluster on 127.0.0.1 (one master, N workers) started from the installed pyspark package."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_S = 180.0  # JVM start-up on a loaded 2-core machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spark_home() -> Path:
    """Return the pyspark package folder: it carries bin/spark-class and the jars (a pip install is a SPARK_HOME)."""
    import pyspark

    return Path(pyspark.__file__).parent


def _master_state(ui_port: int) -> dict[str, object]:
    with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=5) as response:
        state: dict[str, object] = json.load(response)
        return state


@dataclass(frozen=True)
class Cluster:
    """A running standalone cluster: its master URL and the master web UI's port (JSON state at /json/)."""

    url: str
    ui_port: int

    def state(self) -> dict[str, object]:
        """Return the master's state: workers, running and completed applications."""
        return _master_state(self.ui_port)


@contextmanager
def standalone_cluster(workdir: Path, workers: int = 2, cores: int = 1, memory: str = "1g") -> Iterator[Cluster]:
    """Start a master and ``workers`` workers, wait until all registered, yield the cluster; stop them after."""
    home = spark_home()
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(workdir),
           "SPARK_NO_DAEMONIZE": "1"}
    port, ui = _free_port(), _free_port()
    master_url = f"spark://127.0.0.1:{port}"
    spark_class = str(home / "bin" / "spark-class")
    procs: list[subprocess.Popen[bytes]] = []

    def start(args: list[str], log: str) -> None:
        with (workdir / log).open("wb") as out:
            procs.append(subprocess.Popen([spark_class, *args], env=env, stdout=out,  # noqa: S603
                                          stderr=subprocess.STDOUT, start_new_session=True))

    try:
        start(["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
               "--webui-port", str(ui)], "master.log")
        for i in range(workers):
            (workdir / f"worker{i}").mkdir(exist_ok=True)
            start(["org.apache.spark.deploy.worker.Worker", master_url, "--host", "127.0.0.1", "--cores", str(cores),
                   "--memory", memory, "--webui-port", str(_free_port()), "--work-dir", str(workdir / f"worker{i}")],
                  f"worker{i}.log")
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if int(str(_master_state(ui).get("aliveworkers", 0))) >= workers:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                logs = "\n".join((workdir / f).read_text(errors="replace")[-2000:]
                                 for f in ["master.log"] + [f"worker{i}.log" for i in range(workers)])
                raise RuntimeError(f"standalone cluster did not come up with {workers} workers:\n{logs}")
            time.sleep(1)
        yield Cluster(master_url, ui)
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
