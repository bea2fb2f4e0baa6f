"""`ame://` through fsspec, as pandas, pyarrow and xarray use it: paths, listings, whole and
ranged reads, a refused write, a pinned version, altered bytes refused."""

from __future__ import annotations

from pathlib import Path

import fsspec
import pytest

from amed.datasets import ChecksumMismatch, UnknownDataset
from amed.store.schemes import open_store

CREATED = "2026-01-01T00:00:00.000Z"


@pytest.fixture
def url(tmp_path: Path) -> str:
    """Project `p`, data set `n`: version 1 still stored, version 2 current."""
    store_url = (tmp_path / "objects").as_uri()
    store = open_store(store_url)
    for version, text in ((1, "old"), (2, "new")):
        src = tmp_path / f"src{version}"
        (src / "sub").mkdir(parents=True)
        (src / "labels.csv").write_text(f"label,value\n{text},1\n")
        (src / "sub" / "blob.bin").write_bytes(bytes(range(256)) * 40)
        store.publish(store.put_version("p", "n", version, src, created_at=CREATED))
    return store_url


def test_paths_listings_and_reads(url: str) -> None:
    fs = fsspec.filesystem("ame", store=url, project="p")
    assert fs.ls("", detail=False) == ["n"]
    assert fs.ls("n", detail=False) == ["n/labels.csv", "n/sub"]
    assert fs.ls("p/n/sub", detail=False) == ["p/n/sub/blob.bin"]
    info = fs.info("n/sub/blob.bin")
    assert (info["type"], info["size"], info["version"]) == ("file", 10240, 2)
    assert fs.isdir("n/sub") and not fs.exists("n/nope.txt")
    assert fs.cat("n/labels.csv") == b"label,value\nnew,1\n"
    assert fs.cat("n@1/labels.csv") == b"label,value\nold,1\n"
    assert fs.cat_file("n/sub/blob.bin", 256, 260) == bytes(range(4))
    assert fs.cat_file("n/sub/blob.bin", -2) == bytes([254, 255])
    with fs.open("ame://p/n/sub/blob.bin") as handle:
        handle.seek(10)
        assert handle.read(3) == bytes([10, 11, 12])
    with pytest.raises(PermissionError):
        fs.rm("n/labels.csv")
    with pytest.raises(PermissionError):
        fs.open("n/labels.csv", "wb")
    with pytest.raises(UnknownDataset):
        fs.cat("missing/labels.csv")


def test_pandas_reads_a_csv_and_refuses_altered_bytes(url: str, tmp_path: Path) -> None:
    pandas = pytest.importorskip("pandas")
    options = {"store": url, "project": "p"}
    frame = pandas.read_csv("ame://n/labels.csv", storage_options=options)
    assert frame.to_dict(orient="list") == {"label": ["new"], "value": [1]}
    stored = tmp_path / "objects/datasets/p/n/2/files/labels.csv"
    stored.chmod(0o644)
    stored.write_text("label,value\nbad,6\n")
    with pytest.raises(ChecksumMismatch, match=r"labels\.csv"):
        pandas.read_csv("ame://p/n/labels.csv", storage_options=options)


def tamper(tmp_path: Path, key_path: str) -> None:
    stored = tmp_path / "objects/datasets/p/n/3/files" / key_path
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 1
    stored.chmod(0o644)
    stored.write_bytes(bytes(data))


def test_pyarrow_reads_parquet_and_refuses_altered_bytes(url: str, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "src3"
    src.mkdir()
    table = pa.table({"x": [1, 2, 3], "y": ["a", "b", "c"]})
    pq.write_table(table, src / "t.parquet")
    store = open_store(url)
    store.publish(store.put_version("p", "n", 3, src, created_at=CREATED))
    fs = fsspec.filesystem("ame", store=url, project="p")

    assert pq.read_table("ame://p/n/t.parquet", filesystem=fs).equals(table)
    assert pq.read_table("n@3/t.parquet", filesystem=fs).to_pydict() == table.to_pydict()
    tamper(tmp_path, "t.parquet")
    with pytest.raises(ChecksumMismatch, match=r"t\.parquet"):
        pq.read_table("ame://p/n/t.parquet", filesystem=fs)


def test_xarray_opens_netcdf_and_refuses_altered_bytes(url: str, tmp_path: Path) -> None:
    import xarray as xr  # its netCDF3 engine is scipy's

    src = tmp_path / "src3"
    src.mkdir()
    values = [0.5, 1.5, 2.5, 3.5]
    xr.Dataset({"t": ("time", values)}, coords={"time": [0, 1, 2, 3]}).to_netcdf(
        src / "t.nc", engine="scipy"
    )
    store = open_store(url)
    store.publish(store.put_version("p", "n", 3, src, created_at=CREATED))
    fs = fsspec.filesystem("ame", store=url, project="p")

    with fs.open("ame://p/n/t.nc") as handle, xr.open_dataset(handle, engine="scipy") as found:
        assert found["t"].values.tolist() == values
    tamper(tmp_path, "t.nc")
    with (
        pytest.raises(ChecksumMismatch, match=r"t\.nc"),
        fs.open("ame://p/n/t.nc") as handle,
        xr.open_dataset(handle, engine="scipy") as found,
    ):
        found.load()
