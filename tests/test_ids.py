"""``IdColumn`` against the object array of the same ids, numpy's indexing as the reference."""
import numpy as np
import pytest

from hashsearch.index.ids import IdColumn

IDS = [f"20ng/train/{i:05d}" for i in range(150)] + ["café/été", "Москва", "中文文档", "", "x", "a b\tc"]


@pytest.fixture()
def pair():
    return IdColumn.from_strings(IDS), np.asarray(IDS, dtype=object)


def test_rows_give_the_ids_numpy_gives(pair):
    column, reference = pair
    rng = np.random.default_rng(0)
    assert len(column) == len(reference) and column.tolist() == IDS and list(column) == IDS
    for row in [0, 1, 150, 153, len(IDS) - 1, -1, -6]:
        assert column[row] == reference[row]
    for rows in [rng.integers(0, len(IDS), 10), rng.integers(0, len(IDS), 500), rng.integers(-len(IDS), 0, 40),
                 np.array([], dtype=np.int64), slice(3, 150, 7), slice(None, None, -1), reference == "x",
                 rng.random(len(IDS)) < 0.5, [153, 152, 151]]:
        got = column[rows]
        assert got.dtype == object and got.tolist() == reference[rows].tolist()
    assert np.array_equal(np.asarray(column), reference)


def test_rows_out_of_range_raise_as_numpys_do(pair):
    column, _ = pair
    for rows in [len(IDS), -len(IDS) - 1, np.array([0, len(IDS)]), np.array([-len(IDS) - 1]), np.ones(3, dtype=bool)]:
        with pytest.raises(IndexError):
            column[rows]


def test_a_subset_holds_those_rows_in_that_order(pair):
    column, reference = pair
    rows = np.array([152, 0, 151, 149, 153])
    subset = column.subset(rows)
    assert subset.tolist() == reference[rows].tolist()
    assert subset.nbytes == sum(len(doc_id.encode("utf-8")) for doc_id in reference[rows]) + 8 * len(rows)
    assert IdColumn.from_strings([]).tolist() == [] and len(IdColumn.from_strings([])[np.array([], int)]) == 0
