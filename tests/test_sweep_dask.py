"""Sweeps on a dask.distributed LocalCluster (loopback): the same file as a local run,
and a worker killed mid-sweep loses nothing."""
from __future__ import annotations

import os
import signal

import pytest

distributed = pytest.importorskip("distributed")

from _sweep_files import LONGER, assert_same_results, done_rows, small  # noqa: E402
from neurosim.cli import main  # noqa: E402
from neurosim.sweep import run_sweep  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=":0")
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def test_local_cluster_gives_the_local_file(tmp_path, client):
    path = small(tmp_path, patients=12)
    local = tmp_path / "local.h5"
    run_sweep(path, local, batch_size=12, threads=2)
    remote = tmp_path / "dask.h5"
    run_sweep(path, remote, batch_size=3, dask=client)
    assert_same_results(local, remote)


def test_a_killed_worker_s_batches_are_redone(tmp_path, client):
    """When a batch is saved, a worker process holding another batch is killed (SIGKILL);
    the scheduler reruns its batch elsewhere and the sweep completes with every row,
    identical to a local run."""
    path = small(tmp_path, patients=24, text=LONGER)
    before = client.run(os.getpid)
    killed = []

    def kill_one(a, b):
        # after a batch is saved, kill the first worker that holds a sweep batch (a
        # worker may be between batches at that instant; then wait for the next one)
        if killed:
            return
        processing = client.processing()
        for addr, pid in sorted(client.run(os.getpid).items()):
            held = [k for k in processing.get(addr, ()) if k.startswith("neurosim-sweep-")]
            if held:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return

    out = tmp_path / "dask.h5"
    res = run_sweep(path, out, batch_size=2, dask=client, on_batch=kill_one)
    assert killed, "no worker held a batch when a batch was saved"
    assert killed[0] in before.values()  # a worker of the cluster
    assert res.complete and done_rows(out).all()
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker
    assert killed[0] not in client.run(os.getpid).values()
    local = tmp_path / "local.h5"
    run_sweep(path, local, batch_size=24, threads=2)
    assert_same_results(local, out)


def test_cli_dask_local_spec(tmp_path):
    path = small(tmp_path, patients=6)
    local = tmp_path / "local.h5"
    assert main(["sweep", str(path), "-o", str(local), "-q"]) == 0
    out = tmp_path / "dask.h5"
    assert main(["sweep", str(path), "-o", str(out), "--dask", "local:2", "--batch-size",
                 "2", "-q"]) == 0
    assert_same_results(local, out)


def test_unreachable_scheduler_exits_2_and_writes_nothing(tmp_path, capsys):
    import dask

    path = small(tmp_path, patients=4)
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        assert main(["sweep", str(path), "-o", str(tmp_path / "o.h5"), "--dask",
                     "tcp://127.0.0.1:9"]) == 2
    assert "cannot connect to the Dask scheduler" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [path]
