import numpy as np

from recflow.personalize_local.codes import factorize, first_occurrences


def test_factorize_is_np_unique_with_inverse():
    rng = np.random.default_rng(5)
    values = rng.integers(0, 500, 20_000).astype(str)

    distinct, codes = factorize(values)

    expected_distinct, expected_codes = np.unique(values, return_inverse=True)
    assert distinct.tolist() == expected_distinct.tolist()
    assert codes.tolist() == expected_codes.tolist()


def test_first_occurrences_keep_the_first_row_of_each_combination():
    rng = np.random.default_rng(6)
    users = rng.integers(0, 20, 5_000).astype(str)
    items = rng.integers(0, 10, 5_000).astype(str)
    times = rng.integers(-3, 3, 5_000) * 10**17  # integer columns spanning most of int64 are renumbered
    blank = np.full(5_000, "", dtype="<U1")

    first = first_occurrences([users, items, times, blank])

    records = np.rec.fromarrays([users, items, times])
    _, expected = np.unique(records, return_index=True)
    assert np.flatnonzero(first).tolist() == sorted(expected.tolist())
    assert first_occurrences([np.array([], dtype=str)]).tolist() == []
