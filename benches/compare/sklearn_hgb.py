"""Fit scikit-learn's HistGradientBoostingClassifier on exactly the rows `churn train`
fits its gradient boosting on, and score the same test rows, for a like-for-like timing.

usage: python3 benches/compare/sklearn_hgb.py data/features/training_dataset.parquet [stride]

The split follows churn's rule (DESIGN.md stage 6): with n distinct dates the cutoff is
dates[clamp(floor(n * 0.8), 1, n - 1) - 1]; the calibration dates are the last 20% of the
training dates by the same rule, and the model is fitted on the dates before them.
"""
import math
import sys
import time

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score, roc_auc_score


def cutoff(dates, test_size):
    d = np.sort(np.unique(dates))
    n = len(d)
    k = min(max(math.floor(n * (1 - test_size)), 1), n - 1)
    return d[k - 1]


def main():
    df = pq.read_table(sys.argv[1]).to_pandas()
    y = df["churn_label"].to_numpy()
    drop = ["user_id", "as_of_date", "signup_date", "future_active_days", "churn_label"]
    x = pd.get_dummies(df.drop(columns=drop), columns=["plan", "country", "marketing_source"],
                       dummy_na=True, dtype=float)
    dates = df["as_of_date"].to_numpy()
    test_cut = cutoff(dates, 0.2)
    fit_cut = cutoff(dates[dates <= test_cut], 0.2)
    fit = dates <= fit_cut
    test = dates > test_cut
    print(f"fit rows {fit.sum()}, test rows {test.sum()}, columns {x.shape[1]}")
    model = HistGradientBoostingClassifier(learning_rate=0.08, max_depth=6, max_iter=250,
                                           early_stopping=False, random_state=42)
    started = time.perf_counter()
    model.fit(x[fit], y[fit])
    seconds = time.perf_counter() - started
    p = model.predict_proba(x[test])[:, 1]
    print(f"sklearn HistGradientBoosting: fit {seconds:.2f} s, "
          f"PR-AUC {average_precision_score(y[test], p):.4f}, "
          f"ROC-AUC {roc_auc_score(y[test], p):.4f}")


if __name__ == "__main__":
    main()
