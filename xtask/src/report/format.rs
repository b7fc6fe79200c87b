//! How numbers read in the report's prose and tables: bytes in binary
//! units, durations in the unit that keeps them short, ratios with an `x`.

use super::stats::Verdict;

/// Bytes in B, KiB, MiB or GiB with three significant digits.
pub fn bytes(value: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut scaled = value;
    let mut unit = 0;
    while scaled.abs() >= 1024.0 && unit < UNITS.len() - 1 {
        scaled /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{scaled:.0} B") } else { format!("{} {}", three_digits(scaled), UNITS[unit]) }
}

/// Bytes as [`bytes`] writes them, with the fractions a per-element figure
/// needs below 1 KiB: `64 B`, `24.5 B`, `0.066 B`.
pub fn bytes_fine(value: f64) -> String {
    if value.abs() >= 1024.0 {
        bytes(value)
    } else if value > 0.0 && value < 1.0 {
        format!("{} B", two_significant_digits(value))
    } else {
        format!("{} B", three_digits(value))
    }
}

/// A duration given in nanoseconds, in ns, µs, ms or s with three significant digits.
pub fn duration_ns(value: f64) -> String {
    let (scaled, unit) = if value >= 1e9 {
        (value / 1e9, "s")
    } else if value >= 1e6 {
        (value / 1e6, "ms")
    } else if value >= 1e3 {
        (value / 1e3, "µs")
    } else {
        (value, "ns")
    };
    format!("{} {unit}", three_digits(scaled))
}

/// A ratio such as `1.31x`: two decimals below 10, one from 10 on, and two
/// significant digits below 0.1 (`0.0041x`), where two decimals would say nothing.
pub fn ratio(value: f64) -> String {
    if value >= 9.995 {
        format!("{value:.1}x")
    } else if value > 0.0 && value < 0.0995 {
        format!("{}x", two_significant_digits(value))
    } else {
        format!("{value:.2}x")
    }
}

/// A small positive number with two significant digits: `0.066`, `0.0041`.
fn two_significant_digits(value: f64) -> String {
    let decimals = (-value.log10()).floor() as usize + 2;
    format!("{value:.decimals$}")
}

/// A whole number with thousands separated by commas.
pub fn count(value: f64) -> String {
    let rounded = value.round();
    let digits = format!("{:.0}", rounded.abs());
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if rounded < 0.0 { format!("-{grouped}") } else { grouped }
}

/// A rate such as throughput: `12.3M`, `450k`, `87`.
pub fn rate(value: f64) -> String {
    if value >= 1e9 {
        format!("{}G", three_digits(value / 1e9))
    } else if value >= 1e6 {
        format!("{}M", three_digits(value / 1e6))
    } else if value >= 1e3 {
        format!("{}k", three_digits(value / 1e3))
    } else {
        three_digits(value)
    }
}

/// A percentage with no decimals from 10 % on, one below.
pub fn percent(fraction: f64) -> String {
    let value = fraction * 100.0;
    if value >= 9.95 || value == 0.0 { format!("{value:.0}%") } else { format!("{value:.1}%") }
}

/// Three significant digits, without trailing zeros after the point.
fn three_digits(value: f64) -> String {
    let magnitude = value.abs();
    let decimals = if magnitude >= 100.0 {
        0
    } else if magnitude >= 10.0 {
        1
    } else {
        2
    };
    let text = format!("{value:.decimals$}");
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_owned() } else { text }
}

/// What a finding adds after a comparison of single runs.
pub const UNTESTED_NOTE: &str = " (untested: a single run)";

/// A 95% interval of a ratio: `[1.10x–1.40x]`.
pub fn interval(ci: (f64, f64)) -> String {
    format!("[{}–{}]", ratio(ci.0), ratio(ci.1))
}

/// The word that marks a figure drawn from an unstable cell.
pub const UNSTABLE: &str = "**unstable**";

/// What a finding adds after a compared figure: its 95% interval, the verdict (with its method)
/// unless significant, and **unstable** where a cell's spread is over the threshold.
pub fn compared_note(ci: Option<(f64, f64)>, verdict: Verdict, unstable: bool) -> String {
    let mut parts = Vec::new();
    if let Some(ci) = ci {
        parts.push(format!("95% CI {}", interval(ci)));
    }
    match verdict {
        Verdict::Significant { .. } => parts.push(verdict.to_string()),
        Verdict::NotSignificant { .. } => parts.push(verdict.to_string()),
        Verdict::Untested => return format!("{UNTESTED_NOTE}{}", if unstable { " (unstable)" } else { "" }),
    }
    if unstable {
        parts.push(UNSTABLE.to_owned());
    }
    format!(" ({})", parts.join("; "))
}

/// A ratio for a table cell: `1.31x [1.28x–1.35x]`, with `(not significant)` and `**unstable**` where they apply.
pub fn ratio_cell(value: f64, ci: Option<(f64, f64)>, verdict: Verdict, unstable: bool) -> String {
    let mut text = ratio_with_verdict(value, verdict);
    if let Some(ci) = ci {
        text = text.replacen(&ratio(value), &format!("{} {}", ratio(value), interval(ci)), 1);
    }
    if unstable {
        text.push(' ');
        text.push_str(UNSTABLE);
    }
    text
}

/// A ratio with its verdict, for tables: `1.31x`, `1.02x (not significant)`, `1.10x (untested)`.
pub fn ratio_with_verdict(value: f64, verdict: Verdict) -> String {
    match verdict {
        Verdict::Significant { .. } => ratio(value),
        Verdict::NotSignificant { .. } => format!("{} (not significant)", ratio(value)),
        Verdict::Untested => format!("{} (untested)", ratio(value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_in_binary_units() {
        let check = |value: f64, expected: &str| assert_eq!(bytes(value), expected, "{value}");
        check(0.0, "0 B");
        check(512.0, "512 B");
        check(1536.0, "1.5 KiB");
        check(12.5 * 1024.0 * 1024.0, "12.5 MiB");
        check(900.0 * 1024.0 * 1024.0, "900 MiB");
        check(3.0 * 1024.0 * 1024.0 * 1024.0, "3 GiB");
    }

    #[test]
    fn bytes_per_element_keep_their_fractions() {
        let check = |value: f64, expected: &str| assert_eq!(bytes_fine(value), expected, "{value}");
        check(64.0, "64 B");
        check(24.5, "24.5 B");
        check(16.03, "16 B");
        check(0.065536, "0.066 B");
        check(0.0, "0 B");
        check(2048.0, "2 KiB");
    }

    #[test]
    fn durations_in_short_units() {
        let check = |value: f64, expected: &str| assert_eq!(duration_ns(value), expected, "{value}");
        check(250.0, "250 ns");
        check(4_200.0, "4.2 µs");
        check(412_000_000.0, "412 ms");
        check(1_250_000_000.0, "1.25 s");
    }

    #[test]
    fn ratios_counts_rates_and_percents() {
        assert_eq!(ratio(1.3149), "1.31x");
        assert_eq!(ratio(0.5), "0.50x");
        assert_eq!(ratio(12.34), "12.3x");
        assert_eq!(ratio(0.1), "0.10x");
        assert_eq!(ratio(0.05), "0.050x");
        assert_eq!(ratio(0.004096), "0.0041x");
        assert_eq!(ratio(0.0), "0.00x");
        assert_eq!(count(2616.0), "2,616");
        assert_eq!(count(1_000_000.0), "1,000,000");
        assert_eq!(count(37.0), "37");
        assert_eq!(rate(12_345_678.0), "12.3M");
        assert_eq!(rate(450_000.0), "450k");
        assert_eq!(percent(0.98), "98%");
        assert_eq!(percent(0.012), "1.2%");
        assert_eq!(percent(0.0), "0%");
    }
}
