//! Number formatting shared by the tables and the chart labels.

/// Formats a metric in [0, 1] with three decimals, or `n/a` when it is not finite.
pub(crate) fn metric(value: f64) -> String {
    if value.is_finite() { format!("{value:.3}") } else { "n/a".to_string() }
}

/// Formats a count with a comma between groups of three digits.
pub(crate) fn count(value: u64) -> String {
    let digits = value.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// Formats `part / whole` as a percentage like [`percent_of_fraction`], or `n/a` when `whole`
/// is zero.
pub(crate) fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "n/a".to_string();
    }
    percent_of_fraction(part as f64 / whole as f64)
}

/// Formats a fraction as a percentage with one decimal from 10 %, two from 1 % and three
/// below, so that a rare-class rate such as 0.173 % keeps its digits.
pub(crate) fn percent_of_fraction(fraction: f64) -> String {
    if !fraction.is_finite() {
        return "n/a".to_string();
    }
    let percent = fraction * 100.0;
    let decimals = if percent == 0.0 || percent >= 10.0 {
        1
    } else if percent >= 1.0 {
        2
    } else {
        3
    };
    format!("{percent:.decimals$}%")
}

/// Formats any real number with at most `digits` significant digits, trailing zeros removed,
/// switching to exponent notation below 0.001 and from 1,000,000 on in magnitude.
pub(crate) fn significant(value: f64, digits: usize) -> String {
    if !value.is_finite() {
        return "n/a".to_string();
    }
    if value == 0.0 {
        return "0".to_string();
    }
    let digits = digits.max(1);
    let magnitude = value.abs().log10().floor() as i32;
    if !(-3..6).contains(&magnitude) {
        let text = format!("{value:.prec$e}", prec = digits - 1);
        let (mantissa, exponent) = text.split_once('e').expect("`e` formatting writes an exponent");
        return format!("{}e{exponent}", trim_zeros(mantissa));
    }
    let decimals = (digits as i32 - 1 - magnitude).max(0) as usize;
    trim_zeros(&format!("{value:.decimals$}")).to_string()
}

/// Removes trailing zeros after a decimal point, and the point itself when nothing follows it.
fn trim_zeros(text: &str) -> &str {
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.') } else { text }
}

/// Formats a duration in seconds as `42.0 s`, `3 min 05 s` or `1 h 02 min`.
pub(crate) fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "n/a".to_string();
    }
    if seconds < 60.0 {
        return format!("{seconds:.1} s");
    }
    let whole = seconds.round() as u64;
    if whole < 3600 {
        format!("{} min {:02} s", whole / 60, whole % 60)
    } else {
        format!("{} h {:02} min", whole / 3600, whole % 3600 / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_rounds_to_three_decimals() {
        assert_eq!(metric(0.95349), "0.953");
        assert_eq!(metric(0.9535), "0.954");
        assert_eq!(metric(1.0), "1.000");
        assert_eq!(metric(f64::NAN), "n/a");
    }

    #[test]
    fn count_groups_thousands() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(284_807), "284,807");
        assert_eq!(count(1_234_567), "1,234,567");
    }

    #[test]
    fn percent_keeps_rare_rates() {
        // 492 / 284,807 = 0.0017275 (the credit-card fraud rate).
        assert_eq!(percent(492, 284_807), "0.173%");
        assert_eq!(percent(90, 1000), "9.00%");
        assert_eq!(percent(1, 2), "50.0%");
        assert_eq!(percent(0, 10), "0.0%");
        assert_eq!(percent(3, 0), "n/a");
    }

    #[test]
    fn significant_trims_and_switches_to_exponent() {
        assert_eq!(significant(0.523_456, 4), "0.5235");
        assert_eq!(significant(0.5, 4), "0.5");
        assert_eq!(significant(12.0, 4), "12");
        assert_eq!(significant(1234.56, 4), "1235");
        assert_eq!(significant(0.001_234_5, 3), "0.00123");
        assert_eq!(significant(0.000_123_45, 3), "1.23e-4");
        assert_eq!(significant(2_500_000.0, 3), "2.5e6");
        assert_eq!(significant(-0.25, 3), "-0.25");
        assert_eq!(significant(0.0, 3), "0");
        assert_eq!(significant(f64::INFINITY, 3), "n/a");
    }

    #[test]
    fn duration_picks_unit() {
        assert_eq!(duration(4.26), "4.3 s");
        assert_eq!(duration(185.0), "3 min 05 s");
        assert_eq!(duration(3720.0), "1 h 02 min");
        assert_eq!(duration(f64::NAN), "n/a");
    }
}
