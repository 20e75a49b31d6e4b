"""Detectability (``c2st_<extractor>``, #27 item 2) and diversity (``vendi_<extractor>``, #27 item 3)."""

from __future__ import annotations

import numpy as np
import pytest

from harness.cli import main
from harness.core.errors import UserInputError
from harness.core.samples import Samples
from harness.metrics import METRICS
from harness.metrics.applies import registered_extractors
from harness.metrics.c2st import C2ST, c2st, design, folds_of, make_classifier
from harness.metrics.feature_stats import StreamingStats
from harness.metrics.vendi import vendi_score
from tests.helpers import tiny_suite


def _gauss(n: int, d: int = 6, shift: float = 0.0, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d))
    x[:, 0] += shift
    return x


# ------------------------------------------------------------------------------------------------ C2ST core


@pytest.mark.parametrize("classifier", ["logistic", "knn"])
def test_c2st_equals_scikit_learns_own_cross_validated_auc(classifier):
    """#27 item 2: the fold AUCs are scikit-learn's cross_val_score(scoring='roc_auc') on the same balanced
    features and folds, and a written-out fold loop (fit, predict_proba, roc_auc_score) gives them too."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_score

    real, fake = _gauss(300, shift=0.3, seed=1), _gauss(200, seed=2)
    res = c2st(real, fake, folds=5, seed=3, classifier=classifier)
    x, y = design(real, fake, 3)
    assert (x.shape, int(y.sum())) == ((400, 6), 200)  # balanced: 200 of each, the real set subsampled
    want = cross_val_score(make_classifier(classifier, 3), x, y, cv=folds_of(5, 3), scoring="roc_auc")
    assert res.fold_auc == [float(a) for a in want]
    by_hand = []
    for train, test in folds_of(5, 3).split(x, y):
        clf = make_classifier(classifier, 3).fit(x[train], y[train])
        by_hand.append(roc_auc_score(y[test], clf.predict_proba(x[test])[:, 1]))
    np.testing.assert_allclose(res.fold_auc, by_hand, rtol=0, atol=1e-12)
    assert res.auc == pytest.approx(float(np.mean(want)), abs=1e-15)
    lo, hi = res.ci95
    assert lo < res.auc < hi


def test_c2st_known_answers_separable_sets_and_one_distribution():
    """#27 item 2: sets far apart give AUC 1; two draws of one distribution give an interval holding 0.5."""
    assert c2st(_gauss(100, seed=1), _gauss(100, shift=20.0, seed=2)).auc == 1.0
    same = c2st(_gauss(400, seed=1), _gauss(400, seed=2), seed=0)
    assert same.ci95[0] <= 0.5 <= same.ci95[1]
    assert abs(same.auc - 0.5) < 0.05


def test_c2st_refuses_fewer_vectors_than_folds_and_non_finite_features():
    with pytest.raises(
        ValueError, match=r"C2ST with 5 folds needs at least 5 vectors of each set, got 4 samples"
    ):
        c2st(_gauss(50), _gauss(4))
    bad = _gauss(20)
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match=r"generated features hold 1 NaN or infinite values"):
        c2st(_gauss(20), bad)
    with pytest.raises(ValueError, match=r"unknown classifier 'logistc' \(did you mean 'logistic'\?"):
        make_classifier("logistc")


# ------------------------------------------------------------------------------------------------ Vendi core


def test_vendi_matches_the_vendi_score_package_and_the_written_out_formula():
    """#27 item 3: the Vendi score equals vendi-score's score_dual and score_K (cosine kernel), and the formula
    written out on the n x n kernel: exp(-sum(l log l)) over the eigenvalues l of K / n."""
    vendi = pytest.importorskip("vendi_score.vendi")
    for seed, (n, d) in enumerate([(50, 8), (7, 30), (300, 64)]):
        x = np.random.default_rng(seed).standard_normal((n, d)) + 0.5
        ours = vendi_score(x)
        xn = x / np.linalg.norm(x, axis=1, keepdims=True)
        assert ours == pytest.approx(vendi.score_dual(x), rel=1e-10)
        assert ours == pytest.approx(vendi.score_K(xn @ xn.T), rel=1e-9)
        lam = np.linalg.eigvalsh(xn @ xn.T / n)
        lam = lam[lam > 1e-15]
        assert ours == pytest.approx(float(np.exp(-(lam * np.log(lam)).sum())), rel=1e-9)


def test_vendi_known_answers_and_refusals():
    """#27 item 3: n copies of a vector score 1, n orthogonal vectors n, whatever their lengths."""
    assert vendi_score(np.tile([[1.0, 2.0, 3.0]], (10, 1))) == pytest.approx(1.0, abs=1e-12)
    assert vendi_score(np.eye(5) * np.arange(1, 6)[:, None]) == pytest.approx(5.0, rel=1e-12)
    assert vendi_score(np.eye(3)[[0, 0, 1, 1, 2, 2]]) == pytest.approx(3.0, rel=1e-12)
    with pytest.raises(ValueError, match=r"1 feature vectors are zero: their cosine similarity is undefined"):
        vendi_score(np.array([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match=r"unknown kernel 'cosin' \(did you mean 'cosine'\?"):
        vendi_score(np.eye(2), kernel="cosin")


# ------------------------------------------------------------------------------------------------ the metrics


class _Features:
    """A stand-in extractor: the samples' pixels, flattened, are the features."""

    name, dim = "stand-in", 12

    def samples_features(self, samples: Samples) -> np.ndarray:
        return np.asarray(samples.data, dtype=np.float64).reshape(len(samples.data), -1)

    def fingerprint(self) -> str:
        return "stand-in"

    def protocol(self) -> dict:
        return {"extractor": "stand-in"}

    def libraries(self) -> dict:
        return {}


def _metric(name: str, **options):
    m = METRICS.get(name)(**options)
    m._ext = _Features()
    m._ext_details = {"extractor": {"extractor": "stand-in"}, "extractor_fingerprint": "stand-in"}
    return m


def _images(n: int, shift: float, seed: int) -> Samples:
    x = np.clip(0.5 + 0.1 * np.random.default_rng(seed).standard_normal((n, 2, 2, 3)) + shift, 0, 1)
    return Samples(modality="image", data=x.astype(np.float32))


@pytest.fixture
def reference(tmp_path):
    path = tmp_path / "ref.npz"
    real = _images(80, 0.0, 99).data.reshape(80, -1).astype(np.float64)
    StreamingStats.from_features(real, keep_features=True).to_npz(
        path, include_features=True, fingerprint="stand-in"
    )
    return str(path)


def test_c2st_metric_records_auc_interval_and_balancing(reference):
    """#27 item 2: the record's value is the mean fold AUC, ci95 the folds' interval, the details say how the
    classes were balanced; a shifted generator is more detectable than one of the same distribution."""
    near, far = (
        _metric("c2st_digits", reference_path=reference),
        _metric("c2st_digits", reference_path=reference),
    )
    near.update(_images(120, 0.0, 1))
    far.update(_images(120, 0.15, 1))
    a, b = near.compute(), far.compute()
    assert a.status == b.status == "ok"
    assert a.higher_is_better is False and a.ci95[0] <= 0.5 <= a.ci95[1]
    assert b.value > 0.9 > a.value
    assert a.details["balanced"] == (
        "80 of each set: 120 samples and 80 real vectors, the larger subsampled (seeded)"
    )
    assert len(a.details["fold_auc"]) == 5 and a.value == pytest.approx(np.mean(a.details["fold_auc"]))
    assert a.details["c2st"] == {"classifier": "logistic", "folds": 5, "seed": 0}
    assert "real_vs_real" not in a.details  # a reference_path given: no shipped control set applies


def test_c2st_with_fewer_samples_than_folds_is_invalid_with_the_reason(reference):
    """#27 item 2: too few samples for the folds: no value, status invalid, the reason and what to change."""
    m = _metric("c2st_digits", reference_path=reference, folds=4)
    m.update(_images(3, 0.0, 1))
    r = m.compute()
    assert (r.status, r.value) == ("invalid", None)
    assert r.reason == (
        "C2ST with 4 folds needs at least 4 vectors of each set, got 3 samples and 80 real vectors "
        "(set options.folds to at most 3, or give more samples)"
    )


def test_vendi_metric_needs_no_reference_and_names_its_extractor():
    """#27 item 3: vendi_<extractor> scores a job's samples alone; more spread samples score higher."""
    m = _metric("vendi_clip-vit-b-32")
    m.update(_images(40, 0.0, 1))
    r = m.compute()
    assert r.status == "ok" and r.higher_is_better is True and r.n == 40
    assert r.value == pytest.approx(vendi_score(_Features().samples_features(_images(40, 0.0, 1))))
    assert r.details["vendi"] == {"kernel": "cosine"}
    assert (
        METRICS.get("vendi_clip-vit-b-32")().fingerprint_details()["extractor"]["extractor"]
        == "clip-vit-b-32"
    )
    assert METRICS.get("c2st_digits")().extractor_name == "digits-extractor"


def test_every_registered_extractor_has_a_c2st_and_a_vendi_metric():
    """#27 items 2, 3: c2st_<extractor> and vendi_<extractor> for every registered extractor (the zoo's digits
    CNN named after its data, as fd_digits), listed by `harness ls metrics`."""
    short = {"digits-extractor": "digits"}
    for ext in registered_extractors():
        for family in ("c2st", "vendi"):
            name = f"{family}_{short.get(ext, ext)}"
            assert name in METRICS, name
            cls = METRICS.get(name)
            assert cls.name == name and cls.default_extractor == ext


def test_ls_metrics_lists_them(capsys):
    assert main(["ls", "metrics"]) == 0
    out = capsys.readouterr().out
    assert "c2st_digits" in out and "vendi_digits" in out


# ------------------------------------------------------------------------------------------------ bad input


def test_bad_options_name_the_field():
    """#27 items 2, 3: folds < 2, an unknown classifier, a Vendi kernel typo, an unknown extractor."""
    c2 = METRICS.get("c2st_digits")
    with pytest.raises(
        UserInputError, match=r"c2st_digits: folds: Input should be greater than or equal to 2"
    ):
        c2.parse_options({"folds": 1})
    with pytest.raises(
        UserInputError,
        match=r"c2st_digits: classifier: 'svm' is not allowed \(allowed: 'logistic' or 'knn'\)",
    ):
        c2.parse_options({"classifier": "svm"})
    with pytest.raises(
        UserInputError, match=r"vendi_digits: kernel: 'cosin' is not allowed \(allowed: 'cosine'\)"
    ):
        METRICS.get("vendi_digits").parse_options({"kernel": "cosin"})
    with pytest.raises(
        UserInputError, match=r"extractor: unknown extractor 'digits-extracter' \(did you mean"
    ):
        METRICS.get("vendi_digits").parse_options({"extractor": "digits-extracter"})
    with pytest.raises(TypeError, match=r"folds must be an integer >= 2, got 1"):
        C2ST(folds=1)


def _validate(path, capsys) -> tuple[int, str]:
    code = main(["validate", str(path)])
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return code, err


def test_validate_refuses_c2st_with_fewer_samples_than_folds(write_yaml, capsys):
    """#27 item 2 (done-when): a suite whose jobs make fewer samples than C2ST's folds is exit 2 with file:field."""
    suite = tiny_suite(
        models=[{"card": "digits-small", "variants": [{"name": "d", "overrides": {"steps": 3}}]}],
        workload={"class_labels": [0, 1], "num_samples": 4},
        metrics=[{"name": "c2st_digits", "options": {"folds": 5}}],
        objectives={"c2st_digits": "min"},
    )
    code, err = _validate(write_yaml("s.yaml", suite), capsys)
    assert code == 2
    assert err.endswith(
        "s.yaml: metrics[0].options.folds: c2st_digits: 5 folds need at least 5 samples per job, but a job makes "
        "4 (workload.num_samples): lower folds or raise num_samples"
    ), err
    suite["metrics"] = [{"name": "c2st_digits", "options": {"folds": 4}}]
    assert _validate(write_yaml("s.yaml", suite), capsys)[0] == 0
    suite["metrics"] = [{"name": "vendi_digits", "options": {"kernel": "rbf"}}]
    suite["objectives"] = {"vendi_digits": "max"}
    code, err = _validate(write_yaml("s.yaml", suite), capsys)
    assert code == 2 and "s.yaml: metrics[0].options: vendi_digits: kernel: 'rbf' is not allowed" in err, err


# ------------------------------------------------------------------------------------------------ the zoo


def test_c2st_digits_real_vs_real_holds_chance(one_thread):
    """#27 item 2 (done-when): with the shipped digits extractor, the held-out digits against other real digits
    (the training split) give an AUC whose interval holds 0.5; a generator's record carries it in its details.
    Vendi's details carry the real digits' score at the same n."""
    from harness.zoo.data import digits_split

    x = np.transpose(digits_split().x_train[:300], (0, 2, 3, 1)).astype(np.float32)
    noisy = np.clip(x + 0.3 * np.random.default_rng(0).random(x.shape, dtype=np.float32), 0, 1)
    m = METRICS.get("c2st_digits")()
    m.update(Samples(modality="image", data=noisy))
    r = m.compute()
    rvr = r.details["real_vs_real"]
    assert rvr["n"] == 300 and rvr["n_per_class"] == 300
    assert rvr["ci95"][0] <= 0.5 <= rvr["ci95"][1], rvr
    assert r.value > rvr["ci95"][1]  # noise on the digits is detectable
    v = METRICS.get("vendi_digits")()
    v.update(Samples(modality="image", data=x))
    out = v.compute()
    assert out.status == "ok" and out.details["real_data"]["n"] == 300 and out.value > 1


def test_the_real_set_file_is_read_once_per_job_not_per_batch(reference, monkeypatch):
    """The reference file is read once by a metric (the first batch checks it), not again for every batch and
    the computation: a 400 MB features file of a 50k-sample set must not be re-read per batch."""
    import harness.metrics.feature_metric as fm

    reads = []
    real_read = fm.read_stats
    monkeypatch.setattr(fm, "read_stats", lambda path: reads.append(path) or real_read(path))
    m = _metric("c2st_digits", reference_path=reference)
    for k in range(4):
        m.update(_images(30, 0.0, k))
    assert m.compute().status == "ok"
    assert reads == [reference]


def test_prdc_c2st_and_vendi_on_one_job_compute_its_features_once(reference):
    """The metrics that keep every sample's features share them (SHARED): on one Samples object and one
    extractor setting the features are computed once, and the real set is read once."""
    from harness.metrics.feature_metric import SHARED

    SHARED.clear()
    samples = _images(40, 0.1, 2)
    metrics = [
        _metric("prdc_precision", extractor="clip-vit-b-32", reference_path=reference),
        _metric("c2st_clip-vit-b-32", reference_path=reference),
        _metric("vendi_clip-vit-b-32"),
    ]
    for m in metrics:
        m.update(samples)
    assert all(m.compute().status == "ok" for m in metrics)
    assert SHARED.computed["features"] == 1 and SHARED.computed["references"] == 1
    SHARED.clear()
