"""`inspect MANIFEST --dask`: the shards' values checked on the workers, the same report."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

from alselect.errors import PoolFormatError
from alselect.inspect import describe, render

from shard_fixtures import make_sharded, thread_cluster

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.dask


@pytest.fixture(scope="module")
def client():
    with thread_cluster() as c:
        yield c


def test_same_report_as_sequential(client, tmp_path):
    _, manifest, _ = make_sharded(tmp_path)
    seq, par = describe(manifest), describe(manifest, client=client)
    assert par == seq and seq["problems"] == []
    assert render(par) == render(seq)


def test_problems_name_their_shard_in_shard_order(client, tmp_path):
    _, manifest, shards = make_sharded(tmp_path)
    for path, row in ((shards[3], 4), (shards[1], 2)):
        with h5py.File(path, "r+") as f:
            f["embeddings"][row, 0] = np.nan
            f["probs"][row] = [0.9, 0.9, 0.9, 0.9]
    seq, par = describe(manifest), describe(manifest, client=client)
    assert par == seq
    assert len(seq["problems"]) == 4 and seq["predicted_histogram"] is None  # probs invalid: no histogram
    assert seq["problems"][0].startswith(f"shard '{shards[1]}'") and seq["problems"][-1].startswith(f"shard '{shards[3]}'")


def test_missing_or_other_version_shard_is_the_same_error(client, tmp_path):
    _, manifest, shards = make_sharded(tmp_path)
    with h5py.File(shards[2], "r+") as f:
        f.attrs["format_version"] = 2
    with pytest.raises(PoolFormatError, match="shard 3 .*version 2") as one:
        describe(manifest)
    with pytest.raises(PoolFormatError) as many:
        describe(manifest, client=client)
    assert str(many.value) == str(one.value)
    os.remove(shards[0])
    with pytest.raises(PoolFormatError, match="shard 0 .* is missing"):
        describe(manifest, client=client)


def test_single_pool_file_on_the_cluster(client, tmp_path):
    full, _, _ = make_sharded(tmp_path)
    assert describe(full, client=client) == describe(full)
