"""Tests of sleep_brian.readout: RegularizedQDA, the paper pipeline and the assignment readout."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis
from sklearn.model_selection import train_test_split

from sleep_brian.errors import ConfigError
from sleep_brian.readout import (
    RegularizedQDA,
    assign_labels,
    evaluate_readouts,
    paper_protocol_accuracy,
    paper_readout,
    predict_assigned,
)


def _gaussian_classes(rng, n_per_class=(50, 60, 70), n_features=4):
    """Well-conditioned classes with different means and covariances."""
    X, y = [], []
    for k, n in enumerate(n_per_class):
        mixing = rng.normal(size=(n_features, n_features)) + 2 * np.eye(n_features)
        X.append(rng.normal(size=(n, n_features)) @ mixing + 1.5 * k)
        y += [k] * n
    return np.vstack(X), np.array(y)


def _spread_to_unbiased(X, y):
    """Spread each class about its mean so that its ddof=0 covariance is our ddof=1 one."""
    out = X.copy()
    for k in np.unique(y):
        m = y == k
        n = m.sum()
        mu = X[m].mean(axis=0)
        out[m] = mu + np.sqrt(n / (n - 1)) * (X[m] - mu)
    return out


@pytest.fixture(scope="module")
def digits_split():
    d = load_digits()
    return train_test_split(d.data, d.target, test_size=0.3, random_state=0, stratify=d.target)


# --- RegularizedQDA against a hand computation -----------------------------------------------


def test_regularized_qda_matches_hand_formula_2d():
    X = np.array(
        [[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [5.0, 5.0], [7.0, 5.0], [5.0, 9.0], [7.0, 9.0]]
    )
    y = np.array([0, 0, 0, 1, 1, 1, 1])
    r = 0.25
    x = np.array([[1.0, 1.0], [4.0, 4.0], [6.0, 7.0]])

    # Class 0: mean (2/3, 2/3); ddof=1 covariance [[4/3, -2/3], [-2/3, 4/3]].
    mu0 = np.array([2 / 3, 2 / 3])
    cov0 = np.array([[4 / 3, -2 / 3], [-2 / 3, 4 / 3]])
    # Class 1: mean (6, 7); ddof=1 covariance diag(4/3, 16/3).
    mu1 = np.array([6.0, 7.0])
    cov1 = np.diag([4 / 3, 16 / 3])
    priors = np.array([3 / 7, 4 / 7])
    g = np.empty((3, 2))
    for k, (mu, cov) in enumerate([(mu0, cov0), (mu1, cov1)]):
        S = (1 - r) * cov + r * np.eye(2)
        det = S[0, 0] * S[1, 1] - S[0, 1] * S[1, 0]
        S_inv = np.array([[S[1, 1], -S[0, 1]], [-S[1, 0], S[0, 0]]]) / det
        for i, xi in enumerate(x):
            d = xi - mu
            g[i, k] = np.log(priors[k]) - 0.5 * np.log(det) - 0.5 * d @ S_inv @ d
    proba = np.exp(g) / np.exp(g).sum(axis=1, keepdims=True)

    model = RegularizedQDA(reg_param=r).fit(X, y)
    np.testing.assert_allclose(model.means_, [mu0, mu1])
    np.testing.assert_allclose(model.covariances_[0], (1 - r) * cov0 + r * np.eye(2))
    np.testing.assert_allclose(model.covariances_[1], (1 - r) * cov1 + r * np.eye(2))
    np.testing.assert_allclose(model.decision_function(x), g[:, 1] - g[:, 0], rtol=1e-12)
    np.testing.assert_allclose(model.predict_proba(x), proba, rtol=1e-12)
    np.testing.assert_array_equal(model.predict(x), np.argmax(g, axis=1))
    np.testing.assert_array_equal(model.predict(x), [0, 1, 1])


def test_single_sample_class_gets_r_identity():
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [3.0, 3.0]])
    y = np.array([0, 0, 0, 1])
    model = RegularizedQDA(reg_param=0.3).fit(X, y)
    np.testing.assert_allclose(model.covariances_[1], 0.3 * np.eye(2))
    assert model.predict([[3.0, 3.1]])[0] == 1


def test_priors_enter_log_posterior():
    rng = np.random.default_rng(1)
    X, y = _gaussian_classes(rng, (40, 40), 3)
    base = RegularizedQDA(0.1).fit(X, y)
    skewed = RegularizedQDA(0.1, priors=[0.9, 0.1]).fit(X, y)
    shift = np.log(0.1) - np.log(0.9)  # equal class counts: the default priors are 0.5 each
    np.testing.assert_allclose(skewed.decision_function(X), base.decision_function(X) + shift)


# --- RegularizedQDA against scikit-learn 1.9 -------------------------------------------------


def _sklearn_qda_ddof():
    """ddof of the covariance sklearn's QDA shrinks: 1 up to 1.7, 0 in 1.9 (read from the fit)."""
    X = np.array([[0.0, 0.0], [2.0, 1.0], [1.0, 3.0], [10.0, 0.0], [12.0, 1.0], [11.0, 3.0]])
    y = np.array([0, 0, 0, 1, 1, 1])
    trace = np.sum(QuadraticDiscriminantAnalysis(reg_param=0.0).fit(X, y).scalings_[0])
    for ddof in (0, 1):
        if np.isclose(trace, np.trace(np.cov(X[:3].T, ddof=ddof))):
            return ddof
    raise AssertionError(f"sklearn's QDA scalings have an unknown normalisation: {trace}")


@pytest.mark.parametrize("r", [0.0, 0.1, 0.5, 1.0])
def test_matches_sklearn_on_full_rank_data(r):
    # sklearn <= 1.7 shrinks the ddof=1 covariance like we do. sklearn 1.9 shrinks the ddof=0
    # one; after spreading each class by sqrt(n/(n-1)) about its mean its ddof=0 covariance is
    # ours, so on full-rank classes everything must agree.
    rng = np.random.default_rng(0)
    X, y = _gaussian_classes(rng)
    X_sk = X if _sklearn_qda_ddof() == 1 else _spread_to_unbiased(X, y)
    X_test = 2.0 * rng.normal(size=(300, X.shape[1])) + 1.5
    ours = RegularizedQDA(reg_param=r).fit(X, y)
    theirs = QuadraticDiscriminantAnalysis(reg_param=r).fit(X_sk, y)
    np.testing.assert_allclose(ours.predict_proba(X_test), theirs.predict_proba(X_test), atol=1e-10)
    np.testing.assert_allclose(
        ours.decision_function(X_test), theirs.decision_function(X_test), rtol=1e-9, atol=1e-9
    )
    np.testing.assert_array_equal(ours.predict(X_test), theirs.predict(X_test))


def test_differs_from_sklearn_19_only_by_ddof_on_raw_data():
    # On the same raw data, sklearn 1.9 (ddof=0) and we (ddof=1) give slightly different
    # probabilities; shows that the match above is not an accident of the data.
    if _sklearn_qda_ddof() != 0:
        pytest.skip("this scikit-learn's QDA uses ddof=1 like RegularizedQDA")
    rng = np.random.default_rng(0)
    X, y = _gaussian_classes(rng)
    ours = RegularizedQDA(reg_param=0.0).fit(X, y).predict_proba(X)
    theirs = QuadraticDiscriminantAnalysis(reg_param=0.0).fit(X, y).predict_proba(X)
    assert np.abs(ours - theirs).max() > 1e-4
    np.testing.assert_allclose(ours, theirs, atol=0.1)


def test_fits_fewer_samples_than_features():
    # The paper's regime (more PCA components than samples per class), which sklearn 1.9's
    # QDA refuses: we must fit and give finite, normalised probabilities.
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 20)) + np.repeat(np.eye(3, 20) * 3, 10, axis=0)
    y = np.repeat([0, 1, 2], 10)
    model = RegularizedQDA(0.1).fit(X, y)
    proba = model.predict_proba(X)
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.mean(model.predict(X) == y) == 1.0


def test_sklearn_compatible_clone_and_labels():
    rng = np.random.default_rng(3)
    X, y = _gaussian_classes(rng, (20, 20), 2)
    labels = np.array(["cat", "dog"])[y]
    model = clone(RegularizedQDA(reg_param=0.2)).fit(X, labels)
    assert model.get_params() == {"reg_param": 0.2, "priors": None}
    # string labels give the same model as the integer codes they stand for
    by_code = RegularizedQDA(reg_param=0.2).fit(X, y)
    np.testing.assert_array_equal(model.predict(X), np.array(["cat", "dog"])[by_code.predict(X)])
    assert model.score(X, labels) == pytest.approx(by_code.score(X, y))
    assert model.score(X, labels) > 0.6  # chance is 0.5


# --- ConfigError cases -----------------------------------------------------------------------


@pytest.mark.parametrize("bad", [-0.1, 1.5, "0.1", None])
def test_reg_param_out_of_range(bad):
    model = RegularizedQDA(reg_param=bad)  # sklearn convention: accepted here, checked in fit
    with pytest.raises(ConfigError, match="reg_param"):
        model.fit(np.eye(4), [0, 0, 1, 1])
    with pytest.raises(ConfigError, match="reg_param"):
        RegularizedQDA().set_params(reg_param=bad).fit(np.eye(4), [0, 0, 1, 1])
    with pytest.raises(ConfigError, match="reg_param"):
        paper_readout(reg_param=bad)


def test_passes_sklearn_check_estimator():
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SkipTestWarning for the array-API check
        check_estimator(RegularizedQDA())


def test_reg_param_zero_singular_covariance_advises():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(10, 8))
    y = np.repeat([0, 1], 5)
    with pytest.raises(ConfigError, match="reg_param > 0"):
        RegularizedQDA(reg_param=0.0).fit(X, y)


def test_bad_priors():
    X, y = np.eye(4), np.array([0, 0, 1, 1])
    with pytest.raises(ConfigError, match="priors"):
        RegularizedQDA(priors=[1.0, 0.0, 0.0]).fit(X, y)
    with pytest.raises(ConfigError, match="priors"):
        RegularizedQDA(priors=[-1.0, 2.0]).fit(X, y)


@pytest.mark.parametrize("kwargs", [{"variance": 1.0}, {"variance": 0.0}, {"reg_param": 2.0}])
def test_paper_readout_bad_params(kwargs):
    with pytest.raises(ConfigError):
        paper_readout(**kwargs)


# --- the paper pipeline ----------------------------------------------------------------------


def test_paper_readout_structure():
    pipe = paper_readout(reg_param=0.2, variance=0.9)
    assert [name for name, _ in pipe.steps] == ["scale", "pca", "qda"]
    assert pipe.named_steps["pca"].n_components == 0.9
    assert pipe.named_steps["pca"].svd_solver == "full"
    assert pipe.named_steps["qda"].reg_param == 0.2


def test_paper_readout_on_digits(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    pipe = paper_readout().fit(X_train, y_train)
    assert pipe.score(X_test, y_test) > 0.9


# --- assignment readout ----------------------------------------------------------------------


def test_assign_labels_hand_example():
    # 3 classes, 5 neurons. Mean responses per class:
    #   class 0 (rows 0, 1): [3, 0, 1, 0, 2]
    #   class 1 (row 2):     [0, 4, 1, 0, 2]
    #   class 2 (rows 3, 4): [1, 1, 0.5, 0, 2]
    counts = np.array(
        [
            [4, 0, 1, 0, 2],
            [2, 0, 1, 0, 2],
            [0, 4, 1, 0, 2],
            [1, 2, 0, 0, 2],
            [1, 0, 1, 0, 2],
        ]
    )
    labels = np.array([0, 0, 1, 2, 2])
    # neuron 2 ties classes 0 and 1 -> lowest; neuron 3 never fired; neuron 4 ties all -> 0
    np.testing.assert_array_equal(assign_labels(counts, labels, n_classes=3), [0, 1, 0, -1, 0])


def test_assign_labels_uses_mean_not_sum():
    # Class 0 has three samples of count 1 (sum 3, mean 1); class 1 one sample of 2.
    counts = np.array([[1], [1], [1], [2]])
    np.testing.assert_array_equal(assign_labels(counts, [0, 0, 0, 1], n_classes=2), [1])


def test_assign_labels_skips_absent_classes():
    counts = np.array([[0], [0]])
    # the neuron is silent anyway -> -1; and with zero means an absent class must not win
    np.testing.assert_array_equal(assign_labels(counts, [1, 1], n_classes=3), [-1])
    counts = np.array([[2], [3]])
    np.testing.assert_array_equal(assign_labels(counts, [2, 2], n_classes=3), [2])


def test_predict_assigned_hand_example():
    assignments = np.array([0, 0, 1, 2, -1])
    counts = np.array(
        [
            [2, 0, 1, 0, 9],  # class means: 0 -> 1, 1 -> 1, 2 -> 0 : tie -> 0
            [0, 0, 3, 0, 9],  # 0 -> 0, 1 -> 3          -> 1
            [4, 4, 0, 5, 0],  # 0 -> 4, 2 -> 5          -> 2
            [6, 0, 2, 0, 0],  # 0 -> 3 (mean, sum 6), 1 -> 2 -> 0
            [0, 0, 0, 0, 9],  # only the unassigned neuron fired -> -1
        ]
    )
    predicted = predict_assigned(counts, assignments, n_classes=4)
    np.testing.assert_array_equal(predicted, [0, 1, 2, 0, -1])


def test_predict_assigned_mean_not_sum():
    # Class 0 has 3 neurons firing 1 each (sum 3, mean 1); class 1 one neuron firing 2.
    assignments = np.array([0, 0, 0, 1])
    np.testing.assert_array_equal(predict_assigned([[1, 1, 1, 2]], assignments, n_classes=2), [1])


def test_predict_assigned_no_assigned_neurons():
    predicted = predict_assigned([[1, 2], [0, 0]], [-1, -1], n_classes=3)
    np.testing.assert_array_equal(predicted, [-1, -1])


@pytest.mark.parametrize(
    "call",
    [
        lambda: assign_labels(np.ones((3, 2)), [0, 1], 2),  # wrong label count
        lambda: assign_labels(np.ones((2, 2)), [0, 5], 2),  # label out of range
        lambda: assign_labels(np.ones((2, 2)), [0.5, 1], 2),  # non-integer label
        lambda: assign_labels(-np.ones((2, 2)), [0, 1], 2),  # negative counts
        lambda: assign_labels(np.ones(4), [0, 1, 0, 1], 2),  # 1-D counts
        lambda: assign_labels(np.ones((2, 2)), [0, 1], 0),  # n_classes
        lambda: predict_assigned(np.ones((2, 3)), [0, 1], 2),  # wrong assignment length
        lambda: predict_assigned(np.ones((2, 2)), [0, 2], 2),  # assignment out of range
        lambda: predict_assigned(np.ones((2, 2)), [0.0, 1.0], 2),  # float assignments
    ],
)
def test_assignment_config_errors(call):
    with pytest.raises(ConfigError):
        call()


# --- evaluate_readouts -----------------------------------------------------------------------


def test_evaluate_readouts_on_digits(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    result = evaluate_readouts(X_train, y_train, X_test, y_test, n_classes=10)
    assert set(result) == {"accuracy_pca_qda", "accuracy_assignment", "n_pca_components"}
    assert isinstance(result["n_pca_components"], int)
    assert result["accuracy_pca_qda"] > 0.9
    assert 0.2 < result["accuracy_assignment"] <= 1.0  # chance is 0.1
    expected = paper_readout().fit(X_train, y_train)
    assert result["n_pca_components"] == expected.named_steps["pca"].n_components_
    assert result["accuracy_pca_qda"] == pytest.approx(expected.score(X_test, y_test))


def test_evaluate_readouts_silent_network_warns_and_falls_back():
    y_train = np.array([0, 1, 1, 2, 1])
    y_test = np.array([1, 0, 1, 2])
    with pytest.warns(UserWarning, match="majority"):
        result = evaluate_readouts(np.zeros((5, 6)), y_train, np.zeros((4, 6)), y_test, n_classes=3)
    assert result == {"accuracy_pca_qda": 0.5, "accuracy_assignment": 0.0, "n_pca_components": 0}


def test_evaluate_readouts_no_warning_when_fine(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evaluate_readouts(X_train[:400], y_train[:400], X_test[:50], y_test[:50])


def test_evaluate_readouts_config_errors():
    with pytest.raises(ConfigError, match="neurons"):
        evaluate_readouts(np.ones((3, 4)), [0, 1, 0], np.ones((2, 5)), [0, 1])
    with pytest.raises(ConfigError, match="at least one"):
        evaluate_readouts(np.ones((3, 4)), [0, 1, 0], np.ones((0, 4)), [])
    with pytest.raises(ConfigError, match="reg_param"):
        evaluate_readouts(np.ones((3, 4)), [0, 1, 0], np.ones((2, 4)), [0, 1], reg_param=-1)


# --- the authors' test protocol ---------------------------------------------------------------


def test_paper_protocol_fits_first_batch_and_scores_last_batch(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    # Scramble the features of every test sample but the last 200 and of every fit sample after
    # the first 300: the protocol must not see them, so its score equals that of the clean slices.
    rng = np.random.default_rng(0)
    fit, test = X_train.copy(), X_test.copy()
    fit[300:] = rng.permuted(fit[300:], axis=1)
    test[:-200] = rng.permuted(test[:-200], axis=1)
    got = paper_protocol_accuracy(fit, y_train, test, y_test)
    expected = paper_readout().fit(X_train[:300], y_train[:300]).score(X_test[-200:], y_test[-200:])
    assert got == pytest.approx(expected)
    assert got > 0.8  # 30 images per class still separate digits well


def test_paper_protocol_undefined_without_full_batches(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    assert paper_protocol_accuracy(X_train[:299], y_train[:299], X_test, y_test) is None
    assert paper_protocol_accuracy(X_train, y_train, X_test[:199], y_test[:199]) is None
