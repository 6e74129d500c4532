"""Converter corpus, CI part: scikit-learn models converted by skl2onnx, XGBoost and LightGBM models
converted by onnxmltools, each run through `onnxd run` and onnxruntime on the same inputs.

Models are trained here from fixed seeds on small synthetic data (a few seconds in all). Outputs must
agree within rtol 1e-4 / atol 1e-5 (corpus_check.RTOL, ATOL); labels, string labels and ZipMap keys
exactly. Classifiers are converted twice: ZipMap on (a sequence of maps) and off (a tensor).

    ONNXD=build-x/onnxd .venv/bin/python -m pytest -q tests/corpus
"""
import contextlib
import warnings

import numpy as np
import onnx
import pytest

from corpus_check import compare, run_onnxd, run_ort

N_FEATURES = 6


def _data(seed, n=160, classes=3, regression=False):
    from sklearn.datasets import make_classification, make_regression
    if regression:
        X, y = make_regression(n, N_FEATURES, n_informative=4, noise=0.5, random_state=seed)
    else:
        X, y = make_classification(n, N_FEATURES, n_informative=4, n_redundant=1, n_classes=classes,
                                   random_state=seed)
    X = X.astype(np.float32)
    return X[:-20], y[:-20], X[-20:]


def _skl(model, X, zipmap=None, options=None):
    from skl2onnx import to_onnx
    opts = dict(options or {})
    if zipmap is not None:
        opts.setdefault(id(model), {})["zipmap"] = zipmap
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return to_onnx(model, X[:1], options=opts or None, target_opset={"": 17, "ai.onnx.ml": 3})


def _float_input(m):
    return m.graph.input[0].name


# ---- generators: each returns (onnx model, feeds) ----------------------------------------------

def _classifier(make, classes=3, seed=0):
    def gen(zipmap):
        X, y, Xt = _data(seed, classes=classes)
        model = make().fit(X, y)
        m = _skl(model, X, zipmap=zipmap)
        return m, {_float_input(m): Xt}
    return gen


def _regressor(make, seed=1):
    def gen(zipmap):
        X, y, Xt = _data(seed, regression=True)
        model = make().fit(X, y)
        m = _skl(model, X)
        return m, {_float_input(m): Xt}
    return gen


@contextlib.contextmanager
def _int_missing_tracks():
    """skl2onnx 1.20 passes Python bools for nodes_missing_value_tracks_true of HistGradientBoosting
    leaves, which onnx's make_attribute refuses; hand it ints (what the converter means)."""
    import skl2onnx.common.tree_ensemble as te
    original = te.add_node

    def add_node(*args, nodes_missing_value_tracks_true=0, **kwargs):
        return original(*args, nodes_missing_value_tracks_true=int(nodes_missing_value_tracks_true), **kwargs)

    te.add_node = add_node
    try:
        yield
    finally:
        te.add_node = original


def _hist_gb(classifier):
    def gen(zipmap):
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
        X, y, Xt = _data(2, classes=3, regression=not classifier)
        rng = np.random.default_rng(2)
        X[rng.random(X.shape) < 0.1] = np.nan     # learns where missing values go
        Xt[rng.random(Xt.shape) < 0.2] = np.nan
        model = (HistGradientBoostingClassifier(max_iter=15, random_state=0) if classifier
                 else HistGradientBoostingRegressor(max_iter=15, random_state=0)).fit(X, y)
        with _int_missing_tracks():
            m = _skl(model, X, zipmap=zipmap if classifier else None)
        return m, {_float_input(m): Xt}
    return gen


def _mixed_pipeline(zipmap):
    """ColumnTransformer over numeric columns (SimpleImputer, StandardScaler) and string columns
    (SimpleImputer, OneHotEncoder), then LogisticRegression; one input per column group."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(3)
    n = 200
    num = rng.normal(size=(n, 3)).astype(np.float32)
    num[rng.random(num.shape) < 0.1] = np.nan
    colors = rng.choice(["red", "green", "blue"], n)
    sizes = rng.choice(["S", "M", "L", "XL"], n)
    cat = np.stack([colors, sizes], axis=1).astype(object)
    cat[rng.random(cat.shape) < 0.1] = ""     # missing strings (skl2onnx's string imputer wants "")
    y = ((np.nan_to_num(num[:, 0]) > 0) ^ (colors == "red")).astype(np.int64) + (sizes == "XL")
    X = np.concatenate([num.astype(object), cat], axis=1)   # columns 0-2 numeric, 3-4 strings

    pre = ColumnTransformer([
        ("num", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), [0, 1, 2]),
        ("cat", Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="none", missing_values="")),
                          ("onehot", OneHotEncoder(handle_unknown="ignore"))]), [3, 4]),
    ])
    clf = LogisticRegression(max_iter=500)
    pipe = Pipeline([("pre", pre), ("clf", clf)]).fit(X, y)

    # skl2onnx wants one typed input per column group; ColumnTransformer's integer columns are mapped
    # onto the concatenation of the inputs, so the graph takes "num" [N,3] and "cat" [N,2].
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = to_onnx(pipe, initial_types=[("num", FloatTensorType([None, 3])), ("cat", StringTensorType([None, 2]))],
                    options={id(clf): {"zipmap": zipmap}}, target_opset={"": 17, "ai.onnx.ml": 3})
    tn = rng.normal(size=(12, 3)).astype(np.float32)
    tn[rng.random(tn.shape) < 0.2] = np.nan
    tc = np.stack([rng.choice(["red", "green", "blue", "purple"], 12), rng.choice(["S", "M", "L", "XL"], 12)],
                  axis=1).astype(object)
    tc[rng.random(tc.shape) < 0.2] = ""
    return m, {"num": tn, "cat": tc}


TEXTS = ["the cat sat on the mat", "dogs chase cats in the park", "stock prices rose sharply today",
         "the market fell after the report", "a cat and a dog played", "investors sold shares on news",
         "my dog likes the park", "bond yields and stock markets", "kittens sleep all day long",
         "quarterly earnings beat forecasts"]
TEXT_Y = [0, 0, 1, 1, 0, 1, 0, 1, 0, 1]


def _tfidf_text(zipmap):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    clf = LogisticRegression()
    tfidf = TfidfVectorizer(ngram_range=(1, 2))
    pipe = Pipeline([("tfidf", tfidf), ("clf", clf)]).fit(TEXTS, TEXT_Y)
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import StringTensorType
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = to_onnx(pipe, initial_types=[("text", StringTensorType([None, 1]))],
                    options={id(clf): {"zipmap": zipmap}, id(tfidf): {"locale": "C.UTF-8"}},
                    target_opset={"": 17, "ai.onnx.ml": 3})
    tests = np.array([["The cat chased the dog"], ["stock markets rose"], ["nothing known here"],
                      ["Park dogs and market shares"]], dtype=object)
    return m, {"text": tests}


def _onnxmltools(kind, classes=3):
    def gen(zipmap):
        import onnxmltools
        from onnxmltools.convert.common.data_types import FloatTensorType
        classifier = kind.endswith("classifier")
        X, y, Xt = _data(4, classes=classes, regression=not classifier)
        types = [("X", FloatTensorType([None, N_FEATURES]))]
        if kind.startswith("xgb"):
            import xgboost
            cls = xgboost.XGBClassifier if classifier else xgboost.XGBRegressor
            model = cls(n_estimators=12, max_depth=3, random_state=0, n_jobs=1).fit(X, y)
            conv = onnxmltools.convert_xgboost
        else:
            import lightgbm
            cls = lightgbm.LGBMClassifier if classifier else lightgbm.LGBMRegressor
            model = cls(n_estimators=12, num_leaves=7, random_state=0, n_jobs=1, verbose=-1).fit(X, y)
            conv = onnxmltools.convert_lightgbm
        kw = {}
        if classifier and kind.startswith("lgbm"):
            kw["zipmap"] = zipmap
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = conv(model, initial_types=types, **kw)
        return m, {"X": Xt}
    return gen


def _sk():
    from sklearn.ensemble import (ExtraTreesClassifier, ExtraTreesRegressor, GradientBoostingClassifier,
                                  GradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor)
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.neural_network import MLPClassifier
    from sklearn.svm import SVC, SVR
    return dict(
        logistic_regression=_classifier(lambda: LogisticRegression(max_iter=500)),
        logistic_regression_binary=_classifier(lambda: LogisticRegression(max_iter=500), classes=2),
        random_forest_classifier=_classifier(lambda: RandomForestClassifier(n_estimators=8, max_depth=6,
                                                                            random_state=0)),
        random_forest_regressor=_regressor(lambda: RandomForestRegressor(n_estimators=8, max_depth=6,
                                                                         random_state=0)),
        extra_trees_classifier=_classifier(lambda: ExtraTreesClassifier(n_estimators=8, max_depth=6,
                                                                        random_state=0)),
        extra_trees_regressor=_regressor(lambda: ExtraTreesRegressor(n_estimators=8, max_depth=6, random_state=0)),
        gradient_boosting_classifier=_classifier(lambda: GradientBoostingClassifier(n_estimators=10,
                                                                                    random_state=0)),
        gradient_boosting_binary=_classifier(lambda: GradientBoostingClassifier(n_estimators=10, random_state=0),
                                             classes=2),
        gradient_boosting_regressor=_regressor(lambda: GradientBoostingRegressor(n_estimators=10, random_state=0)),
        hist_gradient_boosting_classifier=_hist_gb(True),
        hist_gradient_boosting_regressor=_hist_gb(False),
        svc_probability=_classifier(lambda: SVC(probability=True, random_state=0)),
        svc_probability_binary=_classifier(lambda: SVC(probability=True, random_state=0), classes=2),
        svr=_regressor(lambda: SVR(C=10.0)),
        kneighbors_classifier=_classifier(lambda: KNeighborsClassifier(n_neighbors=5)),
        kneighbors_regressor=_regressor(lambda: KNeighborsRegressor(n_neighbors=4, weights="distance")),
        mlp_classifier=_classifier(lambda: MLPClassifier(hidden_layer_sizes=(16, 8), max_iter=300,
                                                         random_state=0)),
        mixed_column_pipeline=_mixed_pipeline,
        tfidf_text_classifier=_tfidf_text,
        xgb_classifier=_onnxmltools("xgb_classifier"),
        xgb_classifier_binary=_onnxmltools("xgb_classifier", classes=2),
        xgb_regressor=_onnxmltools("xgb_regressor"),
        lgbm_classifier=_onnxmltools("lgbm_classifier"),
        lgbm_classifier_binary=_onnxmltools("lgbm_classifier", classes=2),
        lgbm_regressor=_onnxmltools("lgbm_regressor"),
    )


# Regressors have no ZipMap; onnxmltools' XGBoost converter has no zipmap option (tensors only).
NO_ZIPMAP = {"xgb_classifier", "xgb_classifier_binary", "random_forest_regressor", "extra_trees_regressor", "gradient_boosting_regressor",
              "hist_gradient_boosting_regressor", "svr", "kneighbors_regressor", "xgb_regressor", "lgbm_regressor"}
CASES = [(name, zm) for name in _sk() for zm in ([False] if name in NO_ZIPMAP else [True, False])]


@pytest.mark.parametrize("name,zipmap", CASES, ids=[f"{n}{'-zipmap' if z else ''}" for n, z in CASES])
def test_converted_model_matches_onnxruntime(tmp_path, name, zipmap):
    model, feeds = _sk()[name](zipmap)
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    has_zipmap = any(n.op_type == "ZipMap" for n in model.graph.node)
    assert has_zipmap == zipmap, "the converter did not honour the zipmap option"
    ours = run_onnxd(path, feeds, tmp_path)
    theirs = run_ort(path, feeds)
    _, _, problems = compare(path, ours, theirs)
    assert not problems, "\n".join(problems)
