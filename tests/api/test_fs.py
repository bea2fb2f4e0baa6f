"""`ame://` through fsspec, as pandas and pyarrow use it: paths, listings, whole and ranged
reads, a refused write, a pinned version."""

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
