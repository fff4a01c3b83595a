//! Checks the metrics against scikit-learn on the inputs of `reference/sklearn_metrics.py`.
//!
//! The constants between the two marker comments are that script's output, pasted unchanged.
//! The script's first line names the scikit-learn and numpy versions that produced them. The
//! inputs are defined in both files: `SMALL_*` literally and the LCG case by the same integer
//! formula, which `lcg_case_matches_script` checks through the script's counts.

use common::Confusion;
use evaluate::metrics::{
    average_precision, best_f1_threshold, compute, precision_recall_curve, recall_at_fpr, roc_auc,
    roc_curve, threshold_for_recall,
};

/// Largest difference allowed from scikit-learn's value of a metric.
const TOLERANCE: f64 = 1e-12;

const SMALL_LABELS: [u8; 12] = [0, 1, 0, 1, 0, 1, 1, 0, 0, 0, 1, 0];
const SMALL_SCORES: [f64; 12] = [0.7, 0.9, 0.2, 0.7, 0.9, 0.2, 0.5, 0.1, 0.5, 0.3, 0.8, 0.7];

/// Rebuilds the LCG case of the script: labels and integer score levels (score = level / 100).
fn lcg_rows() -> (Vec<u8>, Vec<u64>) {
    const ROWS: usize = 400;
    let mut state: u32 = 12345;
    let mut draw = || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        u64::from(state)
    };

    let mut labels = Vec::with_capacity(ROWS);
    let mut levels = Vec::with_capacity(ROWS);
    for _ in 0..ROWS {
        let label = u8::from((draw() >> 16) % 8 == 0);
        let state = draw();
        let level = if label == 1 {
            40 + (state >> 16) % 60
        } else {
            ((state >> 16) % 64) * ((state >> 24) % 64) / 40
        };
        labels.push(label);
        levels.push(level);
    }
    (labels, levels)
}

fn lcg_case() -> (Vec<u8>, Vec<f64>) {
    let (labels, levels) = lcg_rows();
    let scores = levels.iter().map(|&level| level as f64 / 100.0).collect();
    (labels, scores)
}

// Output of reference/sklearn_metrics.py starts here.
// scikit-learn 1.9.1, numpy 2.4.6
const TARGET_RECALL: f64 = 0.8;
const MAX_FPR: f64 = 0.01;
const SMALL_ROC_AUC: f64 = 0.6428571428571429;
const SMALL_AVERAGE_PRECISION: f64 = 0.5242424242424242;
const SMALL_ROC_FPR: [f64; 8] = [
    0.0,
    0.14285714285714285,
    0.14285714285714285,
    0.42857142857142855,
    0.5714285714285714,
    0.7142857142857143,
    0.8571428571428571,
    1.0,
];
const SMALL_ROC_TPR: [f64; 8] = [0.0, 0.2, 0.4, 0.6, 0.8, 0.8, 1.0, 1.0];
const SMALL_ROC_THRESHOLDS: [f64; 8] = [f64::INFINITY, 0.9, 0.8, 0.7, 0.5, 0.3, 0.2, 0.1];
const SMALL_PR_PRECISION: [f64; 8] = [
    0.4166666666666667,
    0.45454545454545453,
    0.4444444444444444,
    0.5,
    0.5,
    0.6666666666666666,
    0.5,
    1.0,
];
const SMALL_PR_RECALL: [f64; 8] = [1.0, 1.0, 0.8, 0.8, 0.6, 0.4, 0.2, 0.0];
const SMALL_PR_THRESHOLDS: [f64; 7] = [0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9];
const SMALL_BEST_F1_THRESHOLD: f64 = 0.2;
const SMALL_BEST_F1: f64 = 0.625;
const SMALL_RECALL_THRESHOLD: f64 = 0.5;
const SMALL_RECALL_AT_FPR: f64 = 0.0;
const SMALL_PRECISION_AT_BEST: f64 = 0.45454545454545453;
const SMALL_RECALL_AT_BEST: f64 = 1.0;
const SMALL_CONFUSION_AT_BEST: Confusion = Confusion { tp: 5, fp: 6, tn: 1, fn_: 0 };
const LCG_POSITIVES: u64 = 45;
const LCG_LEVEL_SUM: u64 = 11880;
const LCG_ROC_AUC: f64 = 0.9289514866979656;
const LCG_AVERAGE_PRECISION: f64 = 0.6407532782645342;
const LCG_ROC_FPR: [f64; 90] = [
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0028169014084507044,
    0.005633802816901409,
    0.005633802816901409,
    0.005633802816901409,
    0.005633802816901409,
    0.005633802816901409,
    0.008450704225352112,
    0.008450704225352112,
    0.011267605633802818,
    0.014084507042253521,
    0.014084507042253521,
    0.016901408450704224,
    0.01971830985915493,
    0.030985915492957747,
    0.03380281690140845,
    0.04225352112676056,
    0.04788732394366197,
    0.05070422535211268,
    0.05352112676056338,
    0.059154929577464786,
    0.07042253521126761,
    0.07605633802816901,
    0.07887323943661972,
    0.08732394366197183,
    0.09014084507042254,
    0.09014084507042254,
    0.09577464788732394,
    0.09859154929577464,
    0.10140845070422536,
    0.10704225352112676,
    0.10985915492957747,
    0.11830985915492957,
    0.1295774647887324,
    0.13802816901408452,
    0.15211267605633802,
    0.15492957746478872,
    0.15774647887323945,
    0.16338028169014085,
    0.17464788732394365,
    0.18028169014084508,
    0.19436619718309858,
    0.2056338028169014,
    0.2084507042253521,
    0.2140845070422535,
    0.22535211267605634,
    0.23380281690140844,
    0.24788732394366197,
    0.2535211267605634,
    0.2647887323943662,
    0.2704225352112676,
    0.28169014084507044,
    0.29295774647887324,
    0.30422535211267604,
    0.3126760563380282,
    0.3295774647887324,
    0.3436619718309859,
    0.36056338028169016,
    0.38591549295774646,
    0.4,
    0.4056338028169014,
    0.4084507042253521,
    0.4169014084507042,
    0.43661971830985913,
    0.447887323943662,
    0.4619718309859155,
    0.476056338028169,
    0.49014084507042255,
    0.504225352112676,
    0.5464788732394367,
    0.5690140845070423,
    0.5971830985915493,
    0.6169014084507042,
    0.6450704225352113,
    0.6647887323943662,
    0.6873239436619718,
    0.7070422535211267,
    0.7267605633802817,
    0.7436619718309859,
    0.780281690140845,
    0.8140845070422535,
    0.8338028169014085,
    0.856338028169014,
    0.895774647887324,
    0.9267605633802817,
    1.0,
];
const LCG_ROC_TPR: [f64; 90] = [
    0.0,
    0.022222222222222223,
    0.044444444444444446,
    0.06666666666666667,
    0.13333333333333333,
    0.15555555555555556,
    0.17777777777777778,
    0.2,
    0.26666666666666666,
    0.28888888888888886,
    0.3111111111111111,
    0.3333333333333333,
    0.35555555555555557,
    0.4,
    0.4,
    0.4222222222222222,
    0.4222222222222222,
    0.4444444444444444,
    0.4666666666666667,
    0.4888888888888889,
    0.4888888888888889,
    0.4888888888888889,
    0.4888888888888889,
    0.5111111111111111,
    0.5111111111111111,
    0.5111111111111111,
    0.5333333333333333,
    0.5333333333333333,
    0.5333333333333333,
    0.5555555555555556,
    0.6,
    0.6222222222222222,
    0.6222222222222222,
    0.6666666666666666,
    0.6888888888888889,
    0.7333333333333333,
    0.7555555555555555,
    0.7555555555555555,
    0.8,
    0.8222222222222222,
    0.8222222222222222,
    0.8222222222222222,
    0.8222222222222222,
    0.8444444444444444,
    0.9333333333333333,
    0.9333333333333333,
    0.9555555555555556,
    0.9777777777777777,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
];
const LCG_ROC_THRESHOLDS: [f64; 90] = [
    f64::INFINITY,
    0.98,
    0.97,
    0.96,
    0.95,
    0.93,
    0.92,
    0.86,
    0.85,
    0.84,
    0.83,
    0.82,
    0.81,
    0.8,
    0.79,
    0.78,
    0.77,
    0.76,
    0.75,
    0.73,
    0.72,
    0.71,
    0.7,
    0.69,
    0.68,
    0.67,
    0.66,
    0.65,
    0.64,
    0.63,
    0.62,
    0.61,
    0.6,
    0.58,
    0.57,
    0.56,
    0.55,
    0.54,
    0.53,
    0.52,
    0.51,
    0.5,
    0.49,
    0.48,
    0.47,
    0.46,
    0.45,
    0.43,
    0.42,
    0.41,
    0.4,
    0.39,
    0.38,
    0.37,
    0.36,
    0.35,
    0.34,
    0.33,
    0.32,
    0.31,
    0.3,
    0.29,
    0.28,
    0.27,
    0.26,
    0.25,
    0.24,
    0.23,
    0.22,
    0.2,
    0.19,
    0.18,
    0.17,
    0.16,
    0.15,
    0.14,
    0.13,
    0.12,
    0.11,
    0.1,
    0.09,
    0.08,
    0.07,
    0.06,
    0.05,
    0.04,
    0.03,
    0.02,
    0.01,
    0.0,
];
const LCG_PR_PRECISION: [f64; 90] = [
    0.1125,
    0.12032085561497326,
    0.12396694214876033,
    0.12893982808022922,
    0.13196480938416422,
    0.1347305389221557,
    0.13975155279503104,
    0.14563106796116504,
    0.1485148514851485,
    0.15202702702702703,
    0.15570934256055363,
    0.1601423487544484,
    0.16423357664233576,
    0.17045454545454544,
    0.17509727626459143,
    0.18218623481781376,
    0.18828451882845187,
    0.20089285714285715,
    0.2054794520547945,
    0.2102803738317757,
    0.215311004784689,
    0.22058823529411764,
    0.225,
    0.23316062176165803,
    0.23684210526315788,
    0.23809523809523808,
    0.24064171122994651,
    0.24725274725274726,
    0.26011560693641617,
    0.2694610778443114,
    0.2777777777777778,
    0.28846153846153844,
    0.29411764705882354,
    0.30201342281879195,
    0.3103448275862069,
    0.3191489361702128,
    0.3237410071942446,
    0.3333333333333333,
    0.3383458646616541,
    0.3515625,
    0.36,
    0.371900826446281,
    0.3728813559322034,
    0.3706896551724138,
    0.3783783783783784,
    0.39622641509433965,
    0.38,
    0.3894736842105263,
    0.3978494623655914,
    0.40217391304347827,
    0.4065934065934066,
    0.4235294117647059,
    0.425,
    0.4473684210526316,
    0.4583333333333333,
    0.4492753623188406,
    0.45454545454545453,
    0.4444444444444444,
    0.45161290322580644,
    0.4576271186440678,
    0.43859649122807015,
    0.43636363636363634,
    0.46153846153846156,
    0.47058823529411764,
    0.4791666666666667,
    0.5227272727272727,
    0.5476190476190477,
    0.55,
    0.5641025641025641,
    0.5945945945945946,
    0.6470588235294118,
    0.65625,
    0.7407407407407407,
    0.76,
    0.7916666666666666,
    0.782608695652174,
    0.8181818181818182,
    0.8421052631578947,
    0.8333333333333334,
    0.875,
    0.8666666666666667,
    0.8571428571428571,
    0.8181818181818182,
    0.8,
    0.875,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
];
const LCG_PR_RECALL: [f64; 90] = [
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    0.9777777777777777,
    0.9555555555555556,
    0.9333333333333333,
    0.9333333333333333,
    0.8444444444444444,
    0.8222222222222222,
    0.8222222222222222,
    0.8222222222222222,
    0.8222222222222222,
    0.8,
    0.7555555555555555,
    0.7555555555555555,
    0.7333333333333333,
    0.6888888888888889,
    0.6666666666666666,
    0.6222222222222222,
    0.6222222222222222,
    0.6,
    0.5555555555555556,
    0.5333333333333333,
    0.5333333333333333,
    0.5333333333333333,
    0.5111111111111111,
    0.5111111111111111,
    0.5111111111111111,
    0.4888888888888889,
    0.4888888888888889,
    0.4888888888888889,
    0.4888888888888889,
    0.4666666666666667,
    0.4444444444444444,
    0.4222222222222222,
    0.4222222222222222,
    0.4,
    0.4,
    0.35555555555555557,
    0.3333333333333333,
    0.3111111111111111,
    0.28888888888888886,
    0.26666666666666666,
    0.2,
    0.17777777777777778,
    0.15555555555555556,
    0.13333333333333333,
    0.06666666666666667,
    0.044444444444444446,
    0.022222222222222223,
    0.0,
];
const LCG_PR_THRESHOLDS: [f64; 89] = [
    0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.11, 0.12, 0.13, 0.14, 0.15,
    0.16, 0.17, 0.18, 0.19, 0.2, 0.22, 0.23, 0.24, 0.25, 0.26, 0.27, 0.28, 0.29, 0.3, 0.31, 0.32,
    0.33, 0.34, 0.35, 0.36, 0.37, 0.38, 0.39, 0.4, 0.41, 0.42, 0.43, 0.45, 0.46, 0.47, 0.48, 0.49,
    0.5, 0.51, 0.52, 0.53, 0.54, 0.55, 0.56, 0.57, 0.58, 0.6, 0.61, 0.62, 0.63, 0.64, 0.65, 0.66,
    0.67, 0.68, 0.69, 0.7, 0.71, 0.72, 0.73, 0.75, 0.76, 0.77, 0.78, 0.79, 0.8, 0.81, 0.82, 0.83,
    0.84, 0.85, 0.86, 0.92, 0.93, 0.95, 0.96, 0.97, 0.98,
];
const LCG_BEST_F1_THRESHOLD: f64 = 0.56;
const LCG_BEST_F1: f64 = 0.5641025641025641;
const LCG_RECALL_THRESHOLD: f64 = 0.53;
const LCG_RECALL_AT_FPR: f64 = 0.35555555555555557;
const LCG_PRECISION_AT_BEST: f64 = 0.4583333333333333;
const LCG_RECALL_AT_BEST: f64 = 0.7333333333333333;
const LCG_CONFUSION_AT_BEST: Confusion = Confusion { tp: 33, fp: 39, tn: 316, fn_: 12 };
// Output of reference/sklearn_metrics.py ends here.

#[track_caller]
fn assert_close(metric: &str, actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() <= TOLERANCE,
        "{metric}: got {actual:?}, scikit-learn gives {expected:?}"
    );
}

#[track_caller]
fn assert_curve_close(curve: &str, actual: &[f64], expected: &[f64]) {
    assert_eq!(actual.len(), expected.len(), "{curve}: point count");
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        // The first ROC threshold is +inf on both sides, and inf - inf is NaN.
        if a != e {
            assert_close(&format!("{curve}[{i}]"), a, e);
        }
    }
}

#[test]
fn lcg_case_matches_script() {
    let (labels, levels) = lcg_rows();
    assert_eq!(labels.iter().map(|&label| u64::from(label)).sum::<u64>(), LCG_POSITIVES);
    assert_eq!(levels.iter().sum::<u64>(), LCG_LEVEL_SUM);
}

#[test]
fn small_roc_auc_and_ap() {
    assert_close("roc_auc", roc_auc(&SMALL_LABELS, &SMALL_SCORES).unwrap(), SMALL_ROC_AUC);
    let ap = average_precision(&SMALL_LABELS, &SMALL_SCORES).unwrap();
    assert_close("average_precision", ap, SMALL_AVERAGE_PRECISION);
}

#[test]
fn lcg_roc_auc_and_ap() {
    let (labels, scores) = lcg_case();
    assert_close("roc_auc", roc_auc(&labels, &scores).unwrap(), LCG_ROC_AUC);
    let ap = average_precision(&labels, &scores).unwrap();
    assert_close("average_precision", ap, LCG_AVERAGE_PRECISION);
}

#[test]
fn small_curves() {
    let roc = roc_curve(&SMALL_LABELS, &SMALL_SCORES).unwrap();
    assert_curve_close("fpr", &roc.fpr, &SMALL_ROC_FPR);
    assert_curve_close("tpr", &roc.tpr, &SMALL_ROC_TPR);
    assert_eq!(roc.thresholds, SMALL_ROC_THRESHOLDS);

    let pr = precision_recall_curve(&SMALL_LABELS, &SMALL_SCORES).unwrap();
    assert_curve_close("precision", &pr.precision, &SMALL_PR_PRECISION);
    assert_curve_close("recall", &pr.recall, &SMALL_PR_RECALL);
    assert_eq!(pr.thresholds, SMALL_PR_THRESHOLDS);
}

#[test]
fn lcg_curves() {
    let (labels, scores) = lcg_case();

    let roc = roc_curve(&labels, &scores).unwrap();
    assert_curve_close("fpr", &roc.fpr, &LCG_ROC_FPR);
    assert_curve_close("tpr", &roc.tpr, &LCG_ROC_TPR);
    assert_eq!(roc.thresholds, LCG_ROC_THRESHOLDS);

    let pr = precision_recall_curve(&labels, &scores).unwrap();
    assert_curve_close("precision", &pr.precision, &LCG_PR_PRECISION);
    assert_curve_close("recall", &pr.recall, &LCG_PR_RECALL);
    assert_eq!(pr.thresholds, LCG_PR_THRESHOLDS);
}

#[test]
fn small_thresholds() {
    assert_eq!(best_f1_threshold(&SMALL_LABELS, &SMALL_SCORES), Ok(SMALL_BEST_F1_THRESHOLD));
    let threshold = threshold_for_recall(&SMALL_LABELS, &SMALL_SCORES, TARGET_RECALL);
    assert_eq!(threshold, Ok(SMALL_RECALL_THRESHOLD));
    let recall = recall_at_fpr(&SMALL_LABELS, &SMALL_SCORES, MAX_FPR).unwrap();
    assert_close("recall_at_fpr", recall, SMALL_RECALL_AT_FPR);
}

#[test]
fn lcg_thresholds() {
    let (labels, scores) = lcg_case();
    assert_eq!(best_f1_threshold(&labels, &scores), Ok(LCG_BEST_F1_THRESHOLD));
    assert_eq!(threshold_for_recall(&labels, &scores, TARGET_RECALL), Ok(LCG_RECALL_THRESHOLD));
    let recall = recall_at_fpr(&labels, &scores, MAX_FPR).unwrap();
    assert_close("recall_at_fpr", recall, LCG_RECALL_AT_FPR);
}

#[test]
fn small_compute_at_best_f1() {
    let metrics = compute(&SMALL_LABELS, &SMALL_SCORES, SMALL_BEST_F1_THRESHOLD).unwrap();
    assert_close("roc_auc", metrics.roc_auc, SMALL_ROC_AUC);
    assert_close("average_precision", metrics.average_precision, SMALL_AVERAGE_PRECISION);
    assert_close("precision", metrics.precision, SMALL_PRECISION_AT_BEST);
    assert_close("recall", metrics.recall, SMALL_RECALL_AT_BEST);
    assert_close("f1", metrics.f1, SMALL_BEST_F1);
    assert_close("recall_at_1pct_fpr", metrics.recall_at_1pct_fpr, SMALL_RECALL_AT_FPR);
    assert_eq!(metrics.confusion, SMALL_CONFUSION_AT_BEST);
}

#[test]
fn lcg_compute_at_best_f1() {
    let (labels, scores) = lcg_case();
    let metrics = compute(&labels, &scores, LCG_BEST_F1_THRESHOLD).unwrap();
    assert_eq!(metrics.rows, 400);
    assert_eq!(metrics.positives, LCG_POSITIVES);
    assert_close("roc_auc", metrics.roc_auc, LCG_ROC_AUC);
    assert_close("average_precision", metrics.average_precision, LCG_AVERAGE_PRECISION);
    assert_close("precision", metrics.precision, LCG_PRECISION_AT_BEST);
    assert_close("recall", metrics.recall, LCG_RECALL_AT_BEST);
    assert_close("f1", metrics.f1, LCG_BEST_F1);
    assert_close("recall_at_1pct_fpr", metrics.recall_at_1pct_fpr, LCG_RECALL_AT_FPR);
    assert_eq!(metrics.confusion, LCG_CONFUSION_AT_BEST);
}
