//! Robust statistics over repetitions: median, MAD, geometric mean, and the
//! significance test that decides whether two sets of repetitions differ.
//!
//! The test is the two-sided Mann–Whitney U test at [`ALPHA`], computed
//! exactly (the permutation distribution of the rank sum, ties included)
//! up to [`EXACT_LIMIT`] values and by the normal approximation with tie
//! correction beyond. With very few repetitions no outcome of that test can
//! reach [`ALPHA`] (three against three: the smallest possible p is 0.1); then
//! the verdict falls back to whether the min–max ranges overlap, and says so.
//! With one repetition on a side there is no estimate of the noise at all,
//! and the verdict is "untested".

use std::fmt;

/// The significance level of every test in the report.
pub const ALPHA: f64 = 0.05;

/// Up to this many values in total, the Mann–Whitney p-value is exact.
pub const EXACT_LIMIT: usize = 50;

/// The median of `values`: the middle value, or the mean of the two middle ones.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        Some(sorted[middle])
    } else {
        Some((sorted[middle - 1] + sorted[middle]) / 2.0)
    }
}

/// The median absolute deviation from the median, unscaled.
pub fn median_absolute_deviation(values: &[f64]) -> Option<f64> {
    let center = median(values)?;
    let deviations: Vec<f64> = values.iter().map(|v| (v - center).abs()).collect();
    median(&deviations)
}

/// The geometric mean of positive, finite values; `None` when there are none
/// or when one is not positive and finite.
pub fn geometric_mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() || values.iter().any(|v| !v.is_finite() || *v <= 0.0) {
        return None;
    }
    let mean_log = values.iter().map(|v| v.ln()).sum::<f64>() / values.len() as f64;
    Some(mean_log.exp())
}

/// Median, MAD, minimum and maximum of one figure over repetitions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// The median.
    pub median: f64,
    /// The median absolute deviation (unscaled).
    pub mad: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Spread> {
        Some(Spread {
            median: median(values)?,
            mad: median_absolute_deviation(values)?,
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }
}

/// How two sets of repetitions were judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// The two-sided Mann–Whitney U test.
    MannWhitney,
    /// Whether the min–max ranges overlap (too few repetitions for the U test to reach [`ALPHA`]).
    Ranges,
}

/// The outcome of comparing two sets of repetitions.
///
/// `p_value` is always the two-sided Mann–Whitney p-value (so that counts over
/// many cells can apply Holm's correction); `alpha` is the level the verdict was
/// decided at: [`ALPHA`] for the U test, and for the range test the chance that
/// two samples of these sizes from one distribution fail to overlap
/// (`2 / C(n_a + n_b, n_a)`: 0.10 for 3 against 3).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// The difference is larger than the noise.
    Significant {
        /// The method that decided.
        method: Method,
        /// The Mann–Whitney p-value.
        p_value: Option<f64>,
        /// The level of the test that decided.
        alpha: f64,
    },
    /// The noise covers the difference.
    NotSignificant {
        /// The method that decided.
        method: Method,
        /// The Mann–Whitney p-value.
        p_value: Option<f64>,
        /// The level of the test that decided.
        alpha: f64,
    },
    /// One side has a single repetition: there is nothing to judge the noise by.
    Untested,
}

impl Verdict {
    /// Whether the difference was found significant.
    pub fn is_significant(self) -> bool {
        matches!(self, Verdict::Significant { .. })
    }

    /// Whether the noise covers the difference.
    pub fn is_not_significant(self) -> bool {
        matches!(self, Verdict::NotSignificant { .. })
    }

    /// The Mann–Whitney p-value of a tested comparison.
    pub fn p_value(self) -> Option<f64> {
        match self {
            Verdict::Significant { p_value, .. } | Verdict::NotSignificant { p_value, .. } => p_value,
            Verdict::Untested => None,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (word, method, p_value, alpha) = match *self {
            Verdict::Significant { method, p_value, alpha } => ("significant", method, p_value, alpha),
            Verdict::NotSignificant { method, p_value, alpha } => ("not significant", method, p_value, alpha),
            Verdict::Untested => return f.write_str("untested (n=1)"),
        };
        match (method, p_value) {
            (Method::MannWhitney, Some(p)) => write!(f, "{word} (U test, p={})", format_p_value(p)),
            _ => write!(f, "{word} (ranges, α={alpha:.2})"),
        }
    }
}

/// How many of `verdicts` are significant, uncorrected and after Holm's
/// correction at [`ALPHA`] over the tested ones, as a phrase:
/// `3 of the 10 differences significant (uncorrected); 1 after Holm's correction`.
pub fn significance_count(verdicts: &[Verdict]) -> String {
    let n = verdicts.len();
    let significant = verdicts.iter().filter(|v| v.is_significant()).count();
    let p_values: Vec<f64> = verdicts.iter().filter_map(|v| v.p_value()).collect();
    let holm_significant = holm(&p_values, ALPHA).iter().filter(|rejected| **rejected).count();
    format!(
        "{significant} of the {n} differences significant (uncorrected, each at its own test's α); {holm_significant} after Holm's correction at α = {ALPHA} over the {} tested",
        p_values.len()
    )
}

/// Holm's step-down correction: which of `p_values` are rejected at family-wise level `alpha`.
pub fn holm(p_values: &[f64], alpha: f64) -> Vec<bool> {
    let mut order: Vec<usize> = (0..p_values.len()).collect();
    order.sort_by(|&i, &j| p_values[i].total_cmp(&p_values[j]));
    let m = p_values.len();
    let mut rejected = vec![false; m];
    for (rank, &index) in order.iter().enumerate() {
        if p_values[index] <= alpha / (m - rank) as f64 {
            rejected[index] = true;
        } else {
            break;
        }
    }
    rejected
}

/// A cell is unstable when the MAD of its wall times exceeds this share of their median.
pub const UNSTABLE_THRESHOLD: f64 = 0.05;

/// MAD / median; `None` with no values or a median that is not positive.
pub fn relative_mad(values: &[f64]) -> Option<f64> {
    let center = median(values)?;
    (center > 0.0).then(|| median_absolute_deviation(values).unwrap_or(0.0) / center)
}

/// (max − min) / median; `None` with no values or a median that is not positive.
pub fn relative_range(values: &[f64]) -> Option<f64> {
    let spread = Spread::of(values)?;
    (spread.median > 0.0).then(|| (spread.max - spread.min) / spread.median)
}

/// Whether repetitions spread beyond [`UNSTABLE_THRESHOLD`] (MAD / median); a single run is never called unstable.
pub fn is_unstable(values: &[f64]) -> bool {
    values.len() >= 2 && relative_mad(values).is_some_and(|spread| spread > UNSTABLE_THRESHOLD)
}

/// The confidence level of every interval in the report.
pub const CONFIDENCE: f64 = 0.95;

/// The distribution-free 95% confidence interval of the median: the order
/// statistics `X(k)` and `X(n+1-k)` with the largest `k` for which
/// `1 - 2 P(Binomial(n, 1/2) < k) >= 0.95`. `None` below 6 values, where no
/// pair of order statistics covers the median with that confidence.
pub fn median_ci(values: &[f64]) -> Option<(f64, f64)> {
    let n = values.len();
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut best = None;
    let mut below = 0.0; // P(B < k), B ~ Binomial(n, 1/2)
    for k in 1..=n / 2 {
        below += binomial(n, k - 1) * 0.5f64.powi(n as i32);
        if 1.0 - 2.0 * below >= CONFIDENCE {
            best = Some(k);
        } else {
            break;
        }
    }
    best.map(|k| (sorted[k - 1], sorted[n - k]))
}

/// The fewest values [`median_ci`] gives an interval for.
pub const MEDIAN_CI_MIN_RUNS: usize = 6;

/// The half-width of [`median_ci`] relative to the median: the larger distance from the median to either end, over it.
pub fn median_ci_relative_half_width(values: &[f64]) -> Option<f64> {
    let (low, high) = median_ci(values)?;
    let center = median(values)?;
    (center > 0.0).then(|| (center - low).max(high - center) / center)
}

/// Resamples of the bootstrap.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;

/// The 95% percentile-bootstrap interval of `median(a) / median(b)`: each
/// side resampled with replacement on its own, [`BOOTSTRAP_RESAMPLES`] times,
/// from a XorShift generator seeded with `seed`, so the same data always gives
/// the same interval. `None` with fewer than 2 values on a side.
pub fn bootstrap_ratio_ci(a: &[f64], b: &[f64], seed: u64) -> Option<(f64, f64)> {
    use rand::{RngExt, SeedableRng};
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let mut rng = rand_xorshift::XorShiftRng::seed_from_u64(seed);
    let mut ratios = Vec::with_capacity(BOOTSTRAP_RESAMPLES);
    let (mut sample_a, mut sample_b) = (vec![0.0; a.len()], vec![0.0; b.len()]);
    for _ in 0..BOOTSTRAP_RESAMPLES {
        for slot in sample_a.iter_mut() {
            *slot = a[rng.random_range(0..a.len())];
        }
        for slot in sample_b.iter_mut() {
            *slot = b[rng.random_range(0..b.len())];
        }
        let (ma, mb) = (median(&sample_a)?, median(&sample_b)?);
        if mb > 0.0 {
            ratios.push(ma / mb);
        }
    }
    if ratios.is_empty() {
        return None;
    }
    ratios.sort_by(f64::total_cmp);
    let at = |q: f64| ratios[((q * (ratios.len() - 1) as f64).round() as usize).min(ratios.len() - 1)];
    Some((at((1.0 - CONFIDENCE) / 2.0), at(1.0 - (1.0 - CONFIDENCE) / 2.0)))
}

/// A stable 64-bit seed from a text (FNV-1a), so that each comparison has its own fixed bootstrap stream.
pub fn seed_of(text: &str) -> u64 {
    text.bytes()
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

/// A p-value with two significant digits.
pub fn format_p_value(p: f64) -> String {
    if p >= 0.1 {
        format!("{p:.2}")
    } else if p >= 0.01 {
        format!("{p:.3}")
    } else {
        format!("{p:.1e}")
    }
}

/// Judges whether `a` and `b` differ: the Mann–Whitney U test where it can
/// reach [`ALPHA`], the min–max ranges where it cannot, nothing with one value
/// on a side.
pub fn compare_samples(a: &[f64], b: &[f64]) -> Verdict {
    if a.len() < 2 || b.len() < 2 {
        return Verdict::Untested;
    }
    let p = mann_whitney_p_value(a, b);
    let p_value = Some(p);
    let smallest = smallest_possible_p_value(a.len(), b.len());
    if smallest <= ALPHA {
        let (method, alpha) = (Method::MannWhitney, ALPHA);
        return if p <= ALPHA {
            Verdict::Significant { method, p_value, alpha }
        } else {
            Verdict::NotSignificant { method, p_value, alpha }
        };
    }
    let max = |values: &[f64]| values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = |values: &[f64]| values.iter().copied().fold(f64::INFINITY, f64::min);
    let apart = max(a) < min(b) || max(b) < min(a);
    let (method, alpha) = (Method::Ranges, smallest);
    if apart {
        Verdict::Significant { method, p_value, alpha }
    } else {
        Verdict::NotSignificant { method, p_value, alpha }
    }
}

/// The smallest two-sided p-value the U test can give for samples of these
/// sizes: both orderings where one sample lies wholly below the other.
pub fn smallest_possible_p_value(n_a: usize, n_b: usize) -> f64 {
    (2.0 / binomial(n_a + n_b, n_a)).min(1.0)
}

/// The two-sided p-value of the Mann–Whitney U test of `a` against `b`.
///
/// Exact (the permutation distribution of the rank sum given the ties) when
/// there are at most [`EXACT_LIMIT`] values; the normal approximation with
/// continuity and tie correction beyond. 1 when either side is empty.
pub fn mann_whitney_p_value(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 1.0;
    }
    let mut combined: Vec<f64> = a.iter().chain(b).copied().collect();
    let doubled_ranks = doubled_midranks(&combined);
    let rank_sum_a_doubled: u64 = doubled_ranks[..a.len()].iter().sum();
    if combined.len() <= EXACT_LIMIT {
        exact_p_value(&doubled_ranks, a.len(), rank_sum_a_doubled)
    } else {
        combined.sort_by(f64::total_cmp);
        normal_p_value(&combined, a.len(), b.len(), rank_sum_a_doubled)
    }
}

/// Twice the midrank (1-based) of each value, so that tied ranks stay integers.
fn doubled_midranks(values: &[f64]) -> Vec<u64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Positions start..end (0-based) hold ranks start+1..=end; twice their mean is start+1+end.
        let doubled = (start + 1 + end) as u64;
        for &index in &order[start..end] {
            ranks[index] = doubled;
        }
        start = end;
    }
    ranks
}

/// Counts, for every subset of `n_a` of the values, its doubled rank sum,
/// and gives the share of subsets at least as far from the centre as the observed one.
fn exact_p_value(doubled_ranks: &[u64], n_a: usize, observed_doubled_sum: u64) -> f64 {
    let total_sum: u64 = doubled_ranks.iter().sum();
    let max_sum = total_sum as usize;
    // ways[k][s]: subsets of k values whose doubled ranks sum to s.
    let mut ways = vec![vec![0.0f64; max_sum + 1]; n_a + 1];
    ways[0][0] = 1.0;
    for &rank in doubled_ranks {
        let rank = rank as usize;
        for k in (1..=n_a).rev() {
            let (lower, upper) = ways.split_at_mut(k);
            let from = &lower[k - 1];
            let to = &mut upper[0];
            for s in (rank..=max_sum).rev() {
                to[s] += from[s - rank];
            }
        }
    }
    let n_all = doubled_ranks.len() as u64;
    let centre = n_a as u64 * (n_all + 1);
    let observed_distance = observed_doubled_sum.abs_diff(centre);
    let subsets = &ways[n_a];
    let total: f64 = subsets.iter().sum();
    let extreme: f64 = subsets
        .iter()
        .enumerate()
        .filter(|(sum, _)| (*sum as u64).abs_diff(centre) >= observed_distance)
        .map(|(_, count)| count)
        .sum();
    (extreme / total).min(1.0)
}

/// The normal approximation, with continuity and tie correction.
fn normal_p_value(sorted: &[f64], n_a: usize, n_b: usize, observed_doubled_sum: u64) -> f64 {
    let (n_a, n_b) = (n_a as f64, n_b as f64);
    let n_all = n_a + n_b;
    let u = observed_doubled_sum as f64 / 2.0 - n_a * (n_a + 1.0) / 2.0;
    let mean = n_a * n_b / 2.0;
    let mut tie_term = 0.0;
    let mut start = 0;
    while start < sorted.len() {
        let mut end = start + 1;
        while end < sorted.len() && sorted[end] == sorted[start] {
            end += 1;
        }
        let tied = (end - start) as f64;
        tie_term += tied * tied * tied - tied;
        start = end;
    }
    let variance = n_a * n_b / 12.0 * ((n_all + 1.0) - tie_term / (n_all * (n_all - 1.0)));
    if variance <= 0.0 {
        return 1.0;
    }
    let z = ((u - mean).abs() - 0.5).max(0.0) / variance.sqrt();
    complementary_error_function(z / std::f64::consts::SQRT_2).min(1.0)
}

/// erfc(x) for x ≥ 0, by the Chebyshev fit of Numerical Recipes (relative error below 1.2e-7).
fn complementary_error_function(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let polynomial = -x * x - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let value = t * polynomial.exp();
    if x >= 0.0 { value } else { 2.0 - value }
}

/// n choose k, as a float.
fn binomial(n: usize, k: usize) -> f64 {
    let k = k.min(n - k.min(n));
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64) -> bool {
        (actual - expected).abs() <= 1e-9 * expected.abs().max(1.0)
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        let check =
            |values: &[f64], expected: Option<f64>| assert_eq!(median(values), expected, "{values:?}");
        check(&[], None);
        check(&[5.0], Some(5.0));
        check(&[3.0, 1.0, 2.0], Some(2.0));
        check(&[4.0, 1.0, 3.0, 2.0], Some(2.5));
        check(&[10.0, 10.0, 1000.0], Some(10.0));
    }

    #[test]
    fn mad_ignores_one_outlier() {
        let check = |values: &[f64], expected: f64| {
            assert_eq!(median_absolute_deviation(values), Some(expected), "{values:?}")
        };
        check(&[7.0], 0.0);
        check(&[1.0, 2.0, 3.0], 1.0);
        check(&[10.0, 11.0, 12.0, 13.0, 1000.0], 1.0);
    }

    #[test]
    fn spread_gives_median_mad_min_max() {
        let spread = Spread::of(&[4.0, 2.0, 9.0]).unwrap();
        assert_eq!(spread, Spread { median: 4.0, mad: 2.0, min: 2.0, max: 9.0 });
        assert_eq!(Spread::of(&[]), None);
    }

    #[test]
    fn geometric_mean_of_ratios() {
        assert!(close(geometric_mean(&[2.0, 8.0]).unwrap(), 4.0));
        assert!(close(geometric_mean(&[0.5, 2.0]).unwrap(), 1.0));
        assert_eq!(geometric_mean(&[]), None);
        assert_eq!(geometric_mean(&[1.0, 0.0]), None);
    }

    #[test]
    fn midranks_share_ties() {
        assert_eq!(doubled_midranks(&[10.0, 30.0, 20.0]), vec![2, 6, 4]);
        assert_eq!(doubled_midranks(&[5.0, 5.0, 1.0]), vec![5, 5, 2]);
    }

    #[test]
    fn exact_u_test_matches_the_counting_argument() {
        let check = |a: &[f64], b: &[f64], expected: f64| {
            let p = mann_whitney_p_value(a, b);
            assert!(close(p, expected), "p({a:?}, {b:?}) = {p}, expected {expected}");
            let swapped = mann_whitney_p_value(b, a);
            assert!(close(swapped, expected), "the test is symmetric: {swapped}");
        };
        // Wholly separated: 2 of C(6,3) = 20 orderings are that extreme.
        check(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0], 0.1);
        // 2 of C(8,4) = 70.
        check(&[1.0, 2.0, 3.0, 4.0], &[5.0, 6.0, 7.0, 8.0], 2.0 / 70.0);
        // 2 of C(20,10) = 184756.
        let low: Vec<f64> = (1..=10).map(f64::from).collect();
        let high: Vec<f64> = (11..=20).map(f64::from).collect();
        check(&low, &high, 2.0 / 184_756.0);
        // Identical samples sit at the centre of the distribution.
        check(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0], 1.0);
        check(&[5.0, 5.0, 5.0], &[5.0, 5.0, 5.0], 1.0);
        // Interleaved: rank sum of a is 1+3+5 = 9 against a centre of 10.5; of the 20
        // subsets, those summing to 6..=9 (1+1+2+3) and 12..=15 (3+2+1+1) are as far: 14.
        check(&[1.0, 3.0, 5.0], &[2.0, 4.0, 6.0], 14.0 / 20.0);
    }

    #[test]
    fn normal_approximation_agrees_with_the_exact_test_near_the_limit() {
        let a: Vec<f64> = (0..25).map(|i| f64::from(i) * 2.0).collect();
        let b: Vec<f64> = (0..25).map(|i| f64::from(i) * 2.0 + 7.0).collect();
        let exact = mann_whitney_p_value(&a, &b);
        let mut sorted: Vec<f64> = a.iter().chain(&b).copied().collect();
        let ranks = doubled_midranks(&sorted);
        let rank_sum: u64 = ranks[..a.len()].iter().sum();
        sorted.sort_by(f64::total_cmp);
        let approximate = normal_p_value(&sorted, a.len(), b.len(), rank_sum);
        assert!((exact - approximate).abs() < 0.01, "exact {exact}, approximate {approximate}");
    }

    #[test]
    fn large_separated_samples_are_far_beyond_alpha() {
        let a: Vec<f64> = (0..40).map(f64::from).collect();
        let b: Vec<f64> = (100..140).map(f64::from).collect();
        assert!(mann_whitney_p_value(&a, &b) < 1e-9);
        assert!(mann_whitney_p_value(&a, &a) > 0.9);
    }

    #[test]
    fn erfc_known_values() {
        assert!((complementary_error_function(0.0) - 1.0).abs() < 1e-6);
        assert!((complementary_error_function(1.0) - 0.157_299_207).abs() < 1e-6);
        assert!((complementary_error_function(2.0) - 0.004_677_735).abs() < 1e-7);
    }

    #[test]
    fn smallest_p_value_decides_when_the_u_test_can_speak() {
        assert!(close(smallest_possible_p_value(3, 3), 0.1));
        assert!(close(smallest_possible_p_value(4, 4), 2.0 / 70.0));
        assert!(close(smallest_possible_p_value(1, 1), 1.0));
    }

    #[test]
    fn holm_steps_down() {
        assert_eq!(holm(&[0.01, 0.04, 0.03], 0.05), [true, false, false]);
        assert_eq!(holm(&[0.001, 0.01, 0.04], 0.05), [true, true, true]);
        assert_eq!(holm(&[0.1, 0.1], 0.05), [false, false]);
        assert!(holm(&[], 0.05).is_empty());
    }

    #[test]
    fn the_median_interval_needs_six_values_and_covers_the_median() {
        assert_eq!(median_ci(&[1.0, 2.0, 3.0, 4.0, 5.0]), None);
        // n = 6: only (min, max) reaches 95% (1 - 2/64 = 0.969).
        assert_eq!(median_ci(&[6.0, 1.0, 2.0, 3.0, 4.0, 5.0]), Some((1.0, 6.0)));
        // n = 20: k = 6 (0.9586), not 7 (0.8847).
        let values: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(median_ci(&values), Some((6.0, 15.0)));
        for n in 1..=MEDIAN_CI_MIN_RUNS {
            let ones = vec![1.0; n];
            assert_eq!(median_ci(&ones).is_some(), n == MEDIAN_CI_MIN_RUNS, "{n} values");
        }
        assert_eq!(median_ci_relative_half_width(&[5.0; 8]), Some(0.0));
    }

    #[test]
    fn spread_ratios_and_stability() {
        assert_eq!(relative_mad(&[100.0, 110.0, 90.0]), Some(0.1));
        assert_eq!(relative_range(&[100.0, 110.0, 90.0]), Some(0.2));
        assert!(is_unstable(&[100.0, 110.0, 90.0]));
        assert!(!is_unstable(&[100.0, 101.0, 99.0]));
        assert!(!is_unstable(&[100.0]));
    }

    #[test]
    fn the_bootstrap_is_deterministic_and_brackets_the_ratio() {
        let a = [200.0, 202.0, 198.0, 201.0];
        let b = [100.0, 101.0, 99.0, 100.5];
        let ci = bootstrap_ratio_ci(&a, &b, 7).unwrap();
        assert_eq!(ci, bootstrap_ratio_ci(&a, &b, 7).unwrap());
        assert!(ci.0 <= 2.0 && 2.0 <= ci.1 && ci.1 - ci.0 < 0.1, "{ci:?}");
        let wide = bootstrap_ratio_ci(&[50.0, 300.0, 100.0, 210.0, 90.0], &b, 7).unwrap();
        assert!(wide.1 / wide.0 > 2.0, "{wide:?}");
        assert_eq!(bootstrap_ratio_ci(&[1.0], &b, 7), None);
    }

    #[test]
    fn counts_say_uncorrected_and_holm() {
        let a: Vec<f64> = (0..10).map(f64::from).collect();
        let b: Vec<f64> = (100..110).map(f64::from).collect();
        let verdicts = [compare_samples(&a, &b), compare_samples(&a, &a), Verdict::Untested];
        let text = significance_count(&verdicts);
        assert!(text.starts_with("1 of the 3 differences significant (uncorrected"), "{text}");
        assert!(text.contains("1 after Holm's correction at α = 0.05 over the 2 tested"), "{text}");
    }

    #[test]
    fn verdicts_by_sample_size() {
        let check = |a: &[f64], b: &[f64], expected: &str| {
            assert_eq!(compare_samples(a, b).to_string(), expected, "{a:?} against {b:?}")
        };
        check(&[1.0], &[2.0], "untested (n=1)");
        check(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0], "significant (ranges, α=0.10)");
        check(&[1.0, 2.0, 5.0], &[4.0, 5.0, 6.0], "not significant (ranges, α=0.10)");
        check(&[1.0, 2.0, 3.0, 4.0], &[5.0, 6.0, 7.0, 8.0], "significant (U test, p=0.029)");
        check(&[1.0, 2.0, 3.0, 4.0], &[1.0, 2.0, 3.0, 4.0], "not significant (U test, p=1.00)");
        check(&[1.0, 6.0, 3.0, 7.0], &[5.0, 2.0, 8.0, 4.0], "not significant (U test, p=0.89)");
    }
}
