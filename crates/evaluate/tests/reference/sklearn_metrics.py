"""Print scikit-learn's ranking metrics for the fixed inputs of the evaluate crate's tests.

The output is Rust source: constants that were pasted into
crates/evaluate/tests/sklearn_reference.rs, which checks the crate's metrics against them.
Rerun this script and paste its output again only when the inputs below change.

Two inputs are covered:

- SMALL: twelve hand-written rows whose scores tie within and across classes.
- LCG: 400 rows from a 32-bit linear congruential generator (state = (1664525 * state +
  1013904223) mod 2^32, seed 12345). Each row takes two draws. The first sets the label
  (anomaly when (state >> 16) % 8 == 0). The second sets an integer score level: for an
  anomaly 40 + (state >> 16) % 60, for a normal row ((state >> 16) % 64) * ((state >> 24)
  % 64) // 40, which thins out towards the top so that a few normal rows outrank most
  anomalies. The score is level / 100. That division is correctly rounded in both Python
  and Rust, so the Rust test rebuilds the same floats bit for bit, and the 100 possible
  levels make many ties.

The max-F1 threshold is the highest of the precision_recall_curve thresholds whose
f1_score (flagging score >= threshold) is the largest. The target-recall threshold is the
highest threshold whose recall on that curve is at least TARGET_RECALL. The recall at 1 %
false-positive rate is the largest true-positive rate of roc_curve(drop_intermediate=False)
whose false-positive rate is at most 0.01.

Run it with scikit-learn in a virtual environment outside the repository:

    python3 -m venv /tmp/sklearn-venv
    /tmp/sklearn-venv/bin/pip install scikit-learn
    /tmp/sklearn-venv/bin/python crates/evaluate/tests/reference/sklearn_metrics.py
"""

import math

import numpy as np
import sklearn
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

SMALL_LABELS = [0, 1, 0, 1, 0, 1, 1, 0, 0, 0, 1, 0]
SMALL_SCORES = [0.7, 0.9, 0.2, 0.7, 0.9, 0.2, 0.5, 0.1, 0.5, 0.3, 0.8, 0.7]

LCG_ROWS = 400
LCG_SEED = 12345
LCG_MULTIPLIER = 1664525
LCG_INCREMENT = 1013904223
TARGET_RECALL = 0.8
MAX_FPR = 0.01


def lcg_rows():
    """Return the LCG case as (labels, score levels). Each score is level / 100."""
    state = LCG_SEED
    labels = []
    levels = []
    for _ in range(LCG_ROWS):
        state = (LCG_MULTIPLIER * state + LCG_INCREMENT) % 2**32
        label = 1 if (state >> 16) % 8 == 0 else 0
        state = (LCG_MULTIPLIER * state + LCG_INCREMENT) % 2**32
        if label:
            level = 40 + (state >> 16) % 60
        else:
            level = ((state >> 16) % 64) * ((state >> 24) % 64) // 40
        labels.append(label)
        levels.append(level)
    return labels, levels


def rust_float(value):
    """Format a float as a Rust f64 literal that parses back to the same value."""
    value = float(value)
    if math.isinf(value):
        return "f64::INFINITY" if value > 0 else "f64::NEG_INFINITY"
    return repr(value)


def rust_array(name, values):
    """Format a Rust constant array of f64."""
    body = ", ".join(rust_float(v) for v in values)
    return f"const {name}: [f64; {len(values)}] = [{body}];"


def print_case(prefix, labels, scores):
    """Print every reference value of one input as Rust constants named PREFIX_*."""
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)

    fpr, tpr, roc_thresholds = roc_curve(y, s, drop_intermediate=False)
    precision, recall, pr_thresholds = precision_recall_curve(y, s)

    f1_by_threshold = [f1_score(y, (s >= t).astype(int)) for t in pr_thresholds]
    best_f1 = max(f1_by_threshold)
    best_f1_threshold = max(t for t, f in zip(pr_thresholds, f1_by_threshold) if f == best_f1)
    recall_threshold = max(t for t, r in zip(pr_thresholds, recall) if r >= TARGET_RECALL)
    recall_at_fpr = max(r for f, r in zip(fpr, tpr) if f <= MAX_FPR)

    flagged = (s >= best_f1_threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, flagged, labels=[0, 1]).ravel()

    print(f"const {prefix}_ROC_AUC: f64 = {rust_float(roc_auc_score(y, s))};")
    print(f"const {prefix}_AVERAGE_PRECISION: f64 = {rust_float(average_precision_score(y, s))};")
    print(rust_array(f"{prefix}_ROC_FPR", fpr))
    print(rust_array(f"{prefix}_ROC_TPR", tpr))
    print(rust_array(f"{prefix}_ROC_THRESHOLDS", roc_thresholds))
    print(rust_array(f"{prefix}_PR_PRECISION", precision))
    print(rust_array(f"{prefix}_PR_RECALL", recall))
    print(rust_array(f"{prefix}_PR_THRESHOLDS", pr_thresholds))
    print(f"const {prefix}_BEST_F1_THRESHOLD: f64 = {rust_float(best_f1_threshold)};")
    print(f"const {prefix}_BEST_F1: f64 = {rust_float(best_f1)};")
    print(f"const {prefix}_RECALL_THRESHOLD: f64 = {rust_float(recall_threshold)};")
    print(f"const {prefix}_RECALL_AT_FPR: f64 = {rust_float(recall_at_fpr)};")
    print(f"const {prefix}_PRECISION_AT_BEST: f64 = {rust_float(precision_score(y, flagged))};")
    print(f"const {prefix}_RECALL_AT_BEST: f64 = {rust_float(recall_score(y, flagged))};")
    print(
        f"const {prefix}_CONFUSION_AT_BEST: Confusion = "
        f"Confusion {{ tp: {tp}, fp: {fp}, tn: {tn}, fn_: {fn} }};"
    )


def main():
    print(f"// scikit-learn {sklearn.__version__}, numpy {np.__version__}")
    print(f"const TARGET_RECALL: f64 = {rust_float(TARGET_RECALL)};")
    print(f"const MAX_FPR: f64 = {rust_float(MAX_FPR)};")
    print_case("SMALL", SMALL_LABELS, SMALL_SCORES)

    labels, levels = lcg_rows()
    print(f"const LCG_POSITIVES: u64 = {sum(labels)};")
    print(f"const LCG_LEVEL_SUM: u64 = {sum(levels)};")
    print_case("LCG", labels, [level / 100 for level in levels])


if __name__ == "__main__":
    main()
