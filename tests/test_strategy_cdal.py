"""cdal-cs through pick/select on the three pool layouts, and `alselect score`."""

import json

import numpy as np
import pytest

import alselect
from alselect.cdal import mixtures_from_regions, reward_total
from clihelp import assert_clean_error, run
from conftest import random_probs
from test_cdal_coreset import ref_cd_matrix, ref_coreset


@pytest.fixture
def seg_arrays(rng):
    n, c = 40, 4
    sizes = rng.integers(1, 12, n)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    base = rng.normal(size=(n, c)) * 2.0
    logits = base[np.repeat(np.arange(n), sizes)] + rng.normal(size=(offsets[-1], c)) * 2.0
    region_probs = np.exp(logits - logits.max(1, keepdims=True))
    region_probs /= region_probs.sum(1, keepdims=True)
    return dict(probs=random_probs(rng, n, c), regions_probs=region_probs.astype(np.float32), regions_offsets=offsets,
                embeddings=rng.normal(size=(n, 3)).astype(np.float32), labeled=[0, 5, 9],
                class_names=["road", "person", "rider", "car"])


@pytest.mark.parametrize("reduce,classes,class_idx", [("sum", "", None), ("mean", "", None),
                                                      ("sum", "person,rider", [1, 2])])
def test_regions_layout_matches_brute_force(make_pool, seg_arrays, reduce, classes, class_idx):
    path = make_pool(**seg_arrays)
    mix, pres, _ = mixtures_from_regions(seg_arrays["regions_probs"], seg_arrays["regions_offsets"])
    expected, dists = ref_coreset(ref_cd_matrix(mix, pres, reduce, class_idx), 12, labeled=[0, 5, 9])
    result = alselect.select(path, "cdal-cs", 12, reduce=reduce, classes=classes)
    np.testing.assert_array_equal(result.indices, expected)
    np.testing.assert_allclose(result.scores, dists, rtol=1e-9)


def test_precomputed_mixtures_give_the_same_picks_as_regions(make_pool, seg_arrays):
    mix, pres, counts = mixtures_from_regions(seg_arrays["regions_probs"], seg_arrays["regions_offsets"])
    regions = make_pool(**seg_arrays)
    mixtures = make_pool(probs=seg_arrays["probs"], labeled=seg_arrays["labeled"], cd_mixtures=mix,
                         cd_present=pres, cd_counts=counts)
    a = alselect.select(regions, "cdal-cs", 10).indices
    b = alselect.select(mixtures, "cdal-cs", 10).indices
    np.testing.assert_array_equal(a, b)


def test_classification_layout_compares_full_softmax(make_pool, rng):
    probs = random_probs(rng, 30, 5)
    path = make_pool(probs=probs, labeled=[1, 2])
    mix = probs.astype(np.float64)[:, None, :]
    expected, _ = ref_coreset(ref_cd_matrix(mix, np.ones((30, 1), bool)), 8, labeled=[1, 2])
    np.testing.assert_array_equal(alselect.select(path, "cdal-cs", 8).indices, expected)
    r = run("pick", path, "-s", "cdal-cs", "-b", 8)
    assert r.stdout.split() == [str(i) for i in expected]
    assert_clean_error(run("pick", path, "-s", "cdal-cs", "-b", 2, "-p", "classes=1"), "classification pool")
    assert_clean_error(run("pick", path, "-s", "cdal-cs", "-b", 2, "-p", "layout=regions"), "regions/probs", "--regions-probs")


def test_random_first_pick_is_seeded(make_pool, seg_arrays):
    path = make_pool(**seg_arrays)
    a = alselect.select(path, "cdal-cs", 5, init="random", seed=3)
    assert a.indices[0] not in seg_arrays["labeled"]
    np.testing.assert_array_equal(a.indices, alselect.select(path, "cdal-cs", 5, init="random", seed=3).indices)
    unseeded = alselect.select(path, "cdal-cs", 5, init="random")
    assert "pass --seed" in unseeded.notes[0]


def test_unknown_class_name(make_pool, seg_arrays):
    path = make_pool(**seg_arrays)
    assert_clean_error(run("pick", path, "-s", "cdal-cs", "-b", 2, "-p", "classes=bus"), "unknown class 'bus'", "road")


def test_score_command_matches_the_reward_functions(make_pool, seg_arrays, tmp_path):
    path = make_pool(**seg_arrays)
    picks = alselect.select(path, "cdal-cs", 6).indices
    (tmp_path / "picks.txt").write_text("".join(f"{i}\n" for i in picks))
    mix, pres, counts = mixtures_from_regions(seg_arrays["regions_probs"], seg_arrays["regions_offsets"])
    expected = reward_total(mix, pres, picks, embeddings=seg_arrays["embeddings"], counts=counts, sr_lam=0.5)
    r = run("score", path, "--picks", tmp_path / "picks.txt", "--sr-lam", 0.5, "--json")
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    for key, value in (("R_cd", expected.r_cd), ("R_vr", expected.r_vr), ("R_sr", expected.r_sr), ("R", expected.total)):
        assert got[key] == pytest.approx(value, rel=1e-9)
    text = run("score", path, "--picks", "-", input="\n".join(map(str, picks))).stdout
    assert text.splitlines()[2] == "R_sr\tn/a" and text.startswith("R_cd\t")


def test_score_command_bad_picks(make_pool, seg_arrays, tmp_path):
    path = make_pool(**seg_arrays)
    (tmp_path / "p.txt").write_text("1\n1\n")
    assert_clean_error(run("score", path, "--picks", tmp_path / "p.txt"), "more than once")
    (tmp_path / "p.txt").write_text("400\n")
    assert_clean_error(run("score", path, "--picks", tmp_path / "p.txt"), "row 400")
    (tmp_path / "p.txt").write_text("")
    assert_clean_error(run("score", path, "--picks", tmp_path / "p.txt"), "lists no samples")


def test_r_sr_weight_is_sr_lam_everywhere(make_pool, seg_arrays, tmp_path):
    """`lam` is the balanced strategies' L1 weight; R_sr's lambda is `sr_lam` (--sr-lam, -p sr_lam)."""
    path = make_pool(**seg_arrays)
    (tmp_path / "picks.txt").write_text("0\n1\n")
    assert_clean_error(run("score", path, "--picks", tmp_path / "picks.txt", "--lam", 0.5),
                       "--lam was renamed --sr-lam")
    assert_clean_error(run("pick", path, "-s", "cdal-rl", "-b", 2, "-p", "lam=0.5"),
                       "parameter 'lam' of strategy 'cdal-rl' was renamed 'sr_lam'")
    assert "sr_lam" in run("strategies").stdout


def test_float16_regions_pool_is_accepted_by_every_cd_command(make_pool, tmp_path):
    """pack accepts float16 rows summing to 1 within 1e-2; cdal-cs and score then accept them too."""
    rng = np.random.default_rng(5)
    n, per, c = 30, 40, 19
    region_probs = rng.dirichlet(np.full(c, 0.3), size=n * per).astype(np.float16)
    assert np.abs(region_probs.astype(np.float64).sum(1) - 1).max() > 1e-4
    path = make_pool(probs=random_probs(rng, n, c), regions_probs=region_probs,
                     regions_offsets=np.arange(0, n * per + 1, per))
    r = run("pick", path, "-s", "cdal-cs", "-b", 3)
    assert r.exit_code == 0 and len(r.stdout.split()) == 3, r.output
    (tmp_path / "picks.txt").write_text(r.stdout)
    assert run("score", path, "--picks", tmp_path / "picks.txt", "--sr-lam", 1).exit_code == 0


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_a_bad_region_in_the_pool_is_the_readers_error(make_pool, seg_arrays, dtype):
    """Regions are read as stored and screened by the mixture kernel; a flagged block gets the
    reader's check, so the error names the dataset and the region row, as `inspect` would."""
    import h5py

    from alselect.errors import PoolValueError

    path = make_pool(**{**seg_arrays, "regions_probs": seg_arrays["regions_probs"].astype(dtype)})
    row = int(seg_arrays["regions_offsets"][-1]) - 3
    with h5py.File(path, "r+") as f:
        f["regions/probs"][row, 1] = -0.5
    with pytest.raises(PoolValueError, match=f"dataset 'regions/probs' has a negative probability in row {row}"):
        alselect.select(path, "cdal-cs", 3)
    assert_clean_error(run("pick", path, "-s", "cdal-cs", "-b", 3), "regions/probs", f"row {row}")
