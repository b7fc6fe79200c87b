//! Memory time series: reading `series/<cell-id>.csv`, telling which cell a
//! file belongs to, and thinning a series for plotting.
//!
//! The file name is the sweep's business; this module reads it without
//! assuming one format. A name is split into words at every character that is
//! not a letter or a digit, and it belongs to a cell when its words are
//! exactly the workload's words, the strategy's words, the size (bare or
//! after `s`, `n` or `size`), and optionally the threads (`t2`, `threads2`,
//! `2t`), the repetition (`r0`, `rep0`) and the seed (`seed42`), where bare
//! numbers after the size stand for the threads and then the repetition.
//! The sweep's own name, `crate::layout::cell_id`, is tried first.
//!
//! `cargo xtask publish` thins series files with [`thin_series`].

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::analysis::CellKey;

/// The words of a name: runs of ASCII letters and digits, lowercased.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Removes the first occurrence of `needle` as a contiguous run from `haystack`; false if absent.
fn remove_run(haystack: &mut Vec<String>, needle: &[String]) -> bool {
    if needle.is_empty() || needle.len() > haystack.len() {
        return needle.is_empty();
    }
    for start in 0..=haystack.len() - needle.len() {
        if haystack[start..start + needle.len()] == *needle {
            haystack.drain(start..start + needle.len());
            return true;
        }
    }
    false
}

/// Splits `word` into a letter prefix and a number, or a number and a letter suffix.
fn split_number(word: &str) -> Option<(&str, u64, &str)> {
    let digits_start = word.find(|c: char| c.is_ascii_digit())?;
    let digits_end =
        word[digits_start..].find(|c: char| !c.is_ascii_digit()).map_or(word.len(), |i| digits_start + i);
    let number = word[digits_start..digits_end].parse().ok()?;
    let (prefix, suffix) = (&word[..digits_start], &word[digits_end..]);
    if !prefix.is_empty() && !suffix.is_empty() {
        return None;
    }
    Some((prefix, number, suffix))
}

/// Whether the file stem `stem` names a run of `key`; `Some(rep)` where it
/// does (`rep` where the name gives one).
pub fn match_series_file(stem: &str, key: &CellKey) -> Option<Option<u32>> {
    let mut remaining = words(stem);
    if !remove_run(&mut remaining, &words(&key.workload))
        || !remove_run(&mut remaining, &words(&key.strategy))
    {
        return None;
    }
    let (mut size, mut threads, mut rep) = (None, None, None);
    let mut bare = Vec::new();
    for word in &remaining {
        if matches!(word.as_str(), "series" | "run" | "cell") {
            continue;
        }
        let (prefix, number, suffix) = split_number(word)?;
        match (prefix, suffix) {
            ("s" | "n" | "size", "") => size = Some(number),
            ("t" | "th" | "thread" | "threads", "") | ("", "t") => threads = Some(number),
            ("r" | "rep", "") => rep = Some(number),
            ("seed", "") => {}
            ("", "") => bare.push(number),
            _ => return None,
        }
    }
    for number in bare {
        if size.is_none() {
            size = Some(number);
        } else if threads.is_none() {
            threads = Some(number);
        } else if rep.is_none() {
            rep = Some(number);
        } else {
            return None;
        }
    }
    if size != Some(key.size) || threads.is_some_and(|t| t != u64::from(key.threads)) {
        return None;
    }
    Some(rep.and_then(|r| u32::try_from(r).ok()))
}

/// Finds the series file of `key`: the sweep's `<cell_id>.csv` where present,
/// else the lowest repetition's of the files whose names match the cell.
pub fn find_series_file<'f>(files: &'f [PathBuf], key: &CellKey) -> Option<&'f Path> {
    let exact =
        format!("{}.csv", crate::layout::cell_id(&key.strategy, &key.workload, key.size, key.threads));
    if let Some(path) =
        files.iter().find(|p| p.file_name().is_some_and(|n| n.to_str() == Some(exact.as_str())))
    {
        return Some(path);
    }
    files
        .iter()
        .filter_map(|path| {
            let stem = path.file_stem()?.to_str()?;
            let rep = match_series_file(stem, key)?;
            Some((rep.unwrap_or(0), path.as_path()))
        })
        .min()
        .map(|(_, path)| path)
}

/// One sample of a series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SeriesSample {
    /// Nanoseconds since the run started.
    pub t_ns: u64,
    /// Resident set size.
    pub rss_bytes: u64,
    /// Live bytes of the heap.
    pub live_bytes: u64,
}

/// A phase, from its first sample to the first sample of the phase after it (or its own last).
#[derive(Clone, Debug, PartialEq)]
pub struct PhaseSpan {
    /// The phase's name.
    pub name: String,
    /// When its first sample was taken.
    pub start_ns: u64,
    /// When its last sample was taken.
    pub end_ns: u64,
}

/// A collection pause, from an event such as `gc0:12345`.
#[derive(Clone, Debug, PartialEq)]
pub struct Pause {
    /// When it started.
    pub t_ns: u64,
    /// Its label (`gc0`).
    pub label: String,
    /// The generation, where the label ends in one.
    pub generation: Option<u32>,
    /// How long it lasted.
    pub duration_ns: u64,
    /// Live bytes at the sample before it.
    pub live_bytes: u64,
}

/// A whole time series.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// Samples in time order.
    pub samples: Vec<SeriesSample>,
    /// Phases in time order.
    pub phases: Vec<PhaseSpan>,
    /// Pauses in time order.
    pub pauses: Vec<Pause>,
}

/// Reads a series CSV (`t_ns,rss_bytes,live_bytes,phase,event`).
pub fn read_series(path: &Path) -> Result<Series> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_series(&text).with_context(|| format!("in {}", path.display()))
}

/// One data row of a series file, its fields read.
struct RawRow<'t> {
    /// The row's text.
    line: &'t str,
    t_ns: u64,
    rss_bytes: u64,
    live_bytes: u64,
    phase: &'t str,
    /// Empty for a sample; `label:duration_ns` for an event.
    event: &'t str,
}

/// The data rows of a series CSV after its header; a bad row is an error naming its line.
fn raw_rows(text: &str) -> Result<Vec<RawRow<'_>>> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, header)) if header.trim() == SERIES_HEADER => {}
        _ => bail!("line 1: expected the header {SERIES_HEADER}"),
    }
    let mut rows = Vec::new();
    for (index, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let line_number = index + 1;
        let fields: Vec<&str> = line.splitn(5, ',').collect();
        if fields.len() != 5 {
            bail!("line {line_number}: expected 5 fields, found {}", fields.len());
        }
        let number = |i: usize, name: &str| -> Result<u64> {
            fields[i]
                .trim()
                .parse()
                .with_context(|| format!("line {line_number}: {name} {:?} is not a number", fields[i]))
        };
        rows.push(RawRow {
            line,
            t_ns: number(0, "t_ns")?,
            rss_bytes: number(1, "rss_bytes")?,
            live_bytes: number(2, "live_bytes")?,
            phase: fields[3].trim(),
            event: fields[4].trim(),
        });
    }
    Ok(rows)
}

/// Parses the text of a series CSV; a bad row is an error naming its line.
pub fn parse_series(text: &str) -> Result<Series> {
    let mut series = Series::default();
    for RawRow { t_ns, rss_bytes, live_bytes, phase, event, .. } in raw_rows(text)? {
        if event.is_empty() {
            series.samples.push(SeriesSample { t_ns, rss_bytes, live_bytes });
            // A phase runs from its first sample to the first sample of the next, so that spans touch.
            if let Some(span) = series.phases.last_mut() {
                span.end_ns = t_ns;
            }
            let continues = series.phases.last().is_some_and(|span| span.name == phase);
            if !continues && !phase.is_empty() {
                series.phases.push(PhaseSpan { name: phase.to_owned(), start_ns: t_ns, end_ns: t_ns });
            }
        } else {
            let (label, duration) = event.rsplit_once(':').unwrap_or((event, ""));
            let Ok(duration_ns) = duration.parse() else { continue };
            let generation = label.trim_start_matches(|c: char| !c.is_ascii_digit()).parse().ok();
            series.pauses.push(Pause { t_ns, label: label.to_owned(), generation, duration_ns, live_bytes });
        }
    }
    Ok(series)
}

/// The header of a series file.
const SERIES_HEADER: &str = "t_ns,rss_bytes,live_bytes,phase,event";

/// One data row of a series file, as [`thin_series`] weighs it.
struct SeriesRow<'t> {
    /// The row's text, kept verbatim.
    line: &'t str,
    /// RSS, live bytes and phase for a sample; `None` for an event row.
    sample: Option<(u64, u64, &'t str)>,
}

/// Where a series has more pauses than it may keep rows, the longest this many are kept besides an even sample.
const LONGEST_EVENTS_KEPT: usize = 5;

/// The duration of an event row (`...,gc0:12345`), 0 where it has none.
fn event_duration(line: &str) -> u64 {
    line.rsplit(':').next().and_then(|d| d.trim().parse().ok()).unwrap_or(0)
}

/// A series file thinned for publication, its rows kept verbatim and in order:
/// every event row (a collection pause: the pause plot's data) — or, where
/// there are more than `max_rows` of them, an evenly spaced `max_rows` of them
/// and the longest five — the first and
/// last sample, the samples on each side of every phase boundary, and in
/// between, per stretch of samples, the ones with the most and the fewest live
/// bytes and the most RSS, so that peaks and troughs survive. The result has at
/// most `max_rows` rows where the events leave room; however many events there
/// are, up to `max_rows / 2` samples are kept besides them. A file already
/// within `max_rows` comes back unchanged; a malformed row is an error naming its line.
pub fn thin_series(text: &str, max_rows: usize) -> Result<String> {
    let rows: Vec<SeriesRow<'_>> = raw_rows(text)?
        .into_iter()
        .map(|row| SeriesRow {
            line: row.line,
            sample: row.event.is_empty().then_some((row.rss_bytes, row.live_bytes, row.phase)),
        })
        .collect();
    if rows.len() <= max_rows {
        return Ok(text.to_owned());
    }
    let mut keep: Vec<bool> = rows.iter().map(|row| row.sample.is_none()).collect();
    let events: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].sample.is_none()).collect();
    if events.len() > max_rows {
        // Too many pauses to keep them all: an evenly spaced sample of them, which keeps
        // their distribution, and the longest few, which keeps its tail exactly.
        events.iter().for_each(|&i| keep[i] = false);
        for j in 0..max_rows {
            keep[events[j * events.len() / max_rows]] = true;
        }
        let mut by_duration: Vec<(u64, usize)> =
            events.iter().map(|&i| (event_duration(rows[i].line), i)).collect();
        by_duration.sort_unstable_by(|a, b| b.cmp(a));
        for &(_, i) in by_duration.iter().take(LONGEST_EVENTS_KEPT) {
            keep[i] = true;
        }
    }
    let n_events = events.iter().filter(|&&i| keep[i]).count();
    let samples: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].sample.is_some()).collect();
    let budget = max_rows.saturating_sub(n_events).max(max_rows / 2);
    if samples.len() <= budget {
        keep.iter_mut().for_each(|k| *k = true);
    } else {
        let phase = |i: usize| rows[i].sample.map(|s| s.2);
        let mut mandatory = Vec::new();
        mandatory.extend(samples.first());
        mandatory.extend(samples.last());
        for pair in samples.windows(2) {
            if phase(pair[0]) != phase(pair[1]) {
                mandatory.extend([pair[0], pair[1]]);
            }
        }
        mandatory.sort_unstable();
        mandatory.dedup();
        for &i in &mandatory {
            keep[i] = true;
        }
        let stretches = budget.saturating_sub(mandatory.len()) / 3;
        for stretch in 0..stretches {
            let start = stretch * samples.len() / stretches;
            let end = ((stretch + 1) * samples.len() / stretches).max(start + 1);
            let in_stretch = &samples[start..end];
            let figure =
                |i: &&usize, pick: fn((u64, u64, &str)) -> u64| rows[**i].sample.map(pick).unwrap_or(0);
            let most_live = in_stretch.iter().max_by_key(|i| figure(i, |s| s.1));
            let least_live = in_stretch.iter().min_by_key(|i| figure(i, |s| s.1));
            let most_rss = in_stretch.iter().max_by_key(|i| figure(i, |s| s.0));
            for &i in [most_live, least_live, most_rss].into_iter().flatten() {
                keep[i] = true;
            }
        }
    }
    let mut thinned = String::with_capacity(text.len() / 4);
    thinned.push_str(SERIES_HEADER);
    thinned.push('\n');
    for (row, kept) in rows.iter().zip(&keep) {
        if *kept {
            thinned.push_str(row.line);
            thinned.push('\n');
        }
    }
    Ok(thinned)
}

/// Thins a line of `(x, y)` points to at most `2 * buckets` points, keeping
/// the lowest and highest point of each bucket so that peaks survive.
pub fn downsample(points: &[(f64, f64)], buckets: usize) -> Vec<(f64, f64)> {
    if points.len() <= 2 * buckets || buckets == 0 {
        return points.to_vec();
    }
    let mut thinned = Vec::with_capacity(2 * buckets);
    for bucket in 0..buckets {
        let start = bucket * points.len() / buckets;
        let end = ((bucket + 1) * points.len() / buckets).max(start + 1);
        let slice = &points[start..end];
        let lowest =
            slice.iter().enumerate().min_by(|a, b| a.1.1.total_cmp(&b.1.1)).map(|(i, _)| i).unwrap_or(0);
        let highest =
            slice.iter().enumerate().max_by(|a, b| a.1.1.total_cmp(&b.1.1)).map(|(i, _)| i).unwrap_or(0);
        let (first, second) = (lowest.min(highest), lowest.max(highest));
        thinned.push(slice[first]);
        if second != first {
            thinned.push(slice[second]);
        }
    }
    thinned
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(workload: &str, strategy: &str, size: u64, threads: u32) -> CellKey {
        CellKey { workload: workload.into(), strategy: strategy.into(), size, threads }
    }

    #[test]
    fn file_names_match_their_cell_in_many_spellings() {
        let check = |stem: &str, cell: CellKey, expected: Option<Option<u32>>| {
            assert_eq!(match_series_file(stem, &cell), expected, "{stem} against {cell:?}");
        };
        let trees = || key("binary-trees", "cycle+pymalloc", 18, 1);
        check("binary-trees__cycle+pymalloc__s18__t1__r0", trees(), Some(Some(0)));
        check("binary-trees-cycle+pymalloc-18-t1-rep2", trees(), Some(Some(2)));
        check("cycle_pymalloc-binary_trees-18-1-3", trees(), Some(Some(3)));
        check("binary-trees-cycle-pymalloc-18", trees(), Some(None));
        check("binary-trees__cycle+pymalloc__s18__t1__r0__seed42", trees(), Some(Some(0)));
        check("binary-trees__cycle+pymalloc__s20__t1__r0", trees(), None);
        check("binary-trees__cycle+pymalloc__s18__t2__r0", trees(), None);
        check("binary-trees__refcount+pymalloc__s18__t1__r0", trees(), None);
        check("binary-trees__cycle+pymalloc__s18__t1__r0__extra", trees(), None);
        // One workload's name is a prefix of another's; the leftover word refuses the match.
        check(
            "fragmentation-contiguous-cycle+pymalloc-100",
            key("fragmentation", "cycle+pymalloc", 100, 1),
            None,
        );
        check(
            "fragmentation-contiguous-cycle+pymalloc-100",
            key("fragmentation-contiguous", "cycle+pymalloc", 100, 1),
            Some(None),
        );
        // An allocator's name inside a strategy's does not make it that allocator's file.
        check("churn-cycle+pymalloc-100", key("churn", "pymalloc", 100, 1), None);
        check("larson-pymalloc-1000-t4-r1", key("larson", "pymalloc", 1000, 4), Some(Some(1)));
        check("larson-pymalloc-1000-4t", key("larson", "pymalloc", 1000, 4), Some(None));
    }

    #[test]
    fn the_sweeps_cell_id_reads_back() {
        let cell = key("fragmentation-contiguous", "marksweep+jemalloc", 1_000_000, 2);
        let stem = crate::layout::cell_id(&cell.strategy, &cell.workload, cell.size, cell.threads);
        assert_eq!(match_series_file(&stem, &cell), Some(None));
        assert_eq!(match_series_file(&format!("{stem}-rep3"), &cell), Some(Some(3)));
        let files = vec![PathBuf::from(format!("series/{stem}.csv"))];
        assert_eq!(find_series_file(&files, &cell), Some(files[0].as_path()));
    }

    #[test]
    fn the_lowest_repetition_is_chosen() {
        let cell = key("churn", "cycle+pymalloc", 100, 1);
        let files: Vec<PathBuf> = [
            "churn__cycle+pymalloc__s100__t1__r2.csv",
            "churn__cycle+pymalloc__s100__t1__r1.csv",
            "churn__cycle+pymalloc__s1000__t1__r0.csv",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(
            find_series_file(&files, &cell),
            Some(Path::new("churn__cycle+pymalloc__s100__t1__r1.csv"))
        );
        assert_eq!(find_series_file(&files, &key("churn", "cycle+pymalloc", 7, 1)), None);
    }

    #[test]
    fn series_rows_become_samples_phases_and_pauses() {
        let text = "t_ns,rss_bytes,live_bytes,phase,event\n\
                    0,100,0,,\n\
                    10,200,5,build,\n\
                    20,300,6,build,\n\
                    25,300,6,build,gc0:7\n\
                    26,300,6,build,gc2:70\n\
                    30,250,2,free,\n";
        let series = parse_series(text).unwrap();
        assert_eq!(series.samples.len(), 4);
        assert_eq!(series.samples[2], SeriesSample { t_ns: 20, rss_bytes: 300, live_bytes: 6 });
        assert_eq!(
            series.phases,
            vec![
                PhaseSpan { name: "build".into(), start_ns: 10, end_ns: 30 },
                PhaseSpan { name: "free".into(), start_ns: 30, end_ns: 30 },
            ]
        );
        assert_eq!(series.pauses.len(), 2);
        assert_eq!(series.pauses[0].generation, Some(0));
        assert_eq!(series.pauses[1].generation, Some(2));
        assert_eq!(series.pauses[1].duration_ns, 70);
    }

    #[test]
    fn a_bad_series_row_names_its_line() {
        let message = format!(
            "{:#}",
            parse_series("t_ns,rss_bytes,live_bytes,phase,event\n1,2,3,,\nx,2,3,,\n").unwrap_err()
        );
        assert!(message.contains("line 3"), "{message}");
        assert!(parse_series("wrong header\n").is_err());
    }

    /// A series of `n_samples` samples over three phases with a peak of live
    /// bytes at sample 4321, and a pause after every `pause_every`-th sample.
    fn long_series(n_samples: u64, pause_every: u64) -> String {
        let mut text = String::from("t_ns,rss_bytes,live_bytes,phase,event\n");
        for i in 0..n_samples {
            let phase = ["build", "compute", "teardown"][(3 * i / n_samples) as usize];
            let live = if i == 4321 { 999_999_999 } else { (i * 37) % 1000 };
            text.push_str(&format!("{},{},{live},{phase},\n", i * 1000, 1_000_000 + i % 17));
            if i % pause_every == pause_every - 1 {
                text.push_str(&format!(
                    "{},{},{live},{phase},gc0:{}\n",
                    i * 1000 + 500,
                    1_000_000 + i % 17,
                    i
                ));
            }
        }
        text
    }

    fn data_rows(text: &str) -> Vec<&str> {
        text.lines().skip(1).collect()
    }

    #[test]
    fn thinning_keeps_the_pauses_the_phases_and_the_peak() {
        let check = |n_samples: u64, pause_every: u64, max_rows: usize| {
            let original = long_series(n_samples, pause_every);
            let thinned = thin_series(&original, max_rows).unwrap();
            let (before, after) = (data_rows(&original), data_rows(&thinned));
            let n_events = before.iter().filter(|l| !l.ends_with(',')).count();
            assert!(
                after.len() <= max_rows.max(n_events + max_rows / 2),
                "{} rows kept of {}",
                after.len(),
                before.len()
            );
            assert!(after.len() < before.len());
            assert!(after.iter().all(|row| before.contains(row)), "rows are kept verbatim");
            let (parsed_before, parsed_after) =
                (parse_series(&original).unwrap(), parse_series(&thinned).unwrap());
            if n_events <= max_rows {
                assert_eq!(parsed_after.pauses, parsed_before.pauses, "every pause is kept");
            } else {
                let kept = parsed_after.pauses.len();
                assert!((max_rows..=max_rows + 5).contains(&kept), "{kept} pauses kept of {n_events}");
                let longest = |series: &Series| series.pauses.iter().map(|p| p.duration_ns).max();
                assert_eq!(longest(&parsed_after), longest(&parsed_before), "the longest pause is kept");
                let median = |series: &Series| {
                    let mut d: Vec<u64> = series.pauses.iter().map(|p| p.duration_ns).collect();
                    d.sort_unstable();
                    d[d.len() / 2] as f64
                };
                let drift = median(&parsed_after) / median(&parsed_before);
                assert!((0.95..=1.05).contains(&drift), "the median pause moved by {drift}");
            }
            assert_eq!(parsed_after.phases, parsed_before.phases, "phases start and end where they did");
            assert_eq!(parsed_after.samples.first(), parsed_before.samples.first());
            assert_eq!(parsed_after.samples.last(), parsed_before.samples.last());
            let peak = |series: &Series| series.samples.iter().map(|s| s.live_bytes).max();
            assert_eq!(peak(&parsed_after), Some(999_999_999), "the peak survives");
            assert!(parsed_after.samples.windows(2).all(|w| w[0].t_ns < w[1].t_ns), "still in time order");
        };
        check(10_000, 100, 500);
        check(10_000, 7, 500);
        check(5_000, 1_000_000, 200);
    }

    #[test]
    fn many_pauses_still_leave_half_the_rows_to_samples() {
        let original = long_series(10_000, 5);
        let thinned = thin_series(&original, 500).unwrap();
        let samples = data_rows(&thinned).iter().filter(|l| l.ends_with(',')).count();
        assert!((100..=250).contains(&samples), "{samples} samples kept: up to half the rows");
        let pauses = data_rows(&thinned).len() - samples;
        assert!(
            (500..=505).contains(&pauses),
            "{pauses} of the 2,000 pauses: 500 evenly spaced and the 5 longest"
        );
    }

    #[test]
    fn a_short_series_is_left_as_it_is() {
        let text = "t_ns,rss_bytes,live_bytes,phase,event\n0,1,2,build,\n5,1,2,build,gc0:3\n";
        assert_eq!(thin_series(text, 500).unwrap(), text);
        assert_eq!(thin_series(text, 2).unwrap(), text);
    }

    #[test]
    fn a_bad_row_stops_the_thinning_at_its_line() {
        let message = format!(
            "{:#}",
            thin_series("t_ns,rss_bytes,live_bytes,phase,event\n1,2,3,,\n1,x,3,,\n", 1).unwrap_err()
        );
        assert!(message.contains("line 3"), "{message}");
        assert!(thin_series("no header\n", 1).is_err());
    }

    #[test]
    fn downsampling_keeps_the_peak_and_bounds_the_count() {
        let points: Vec<(f64, f64)> =
            (0..100_000).map(|i| (i as f64, if i == 54_321 { 1e9 } else { (i % 7) as f64 })).collect();
        let thinned = downsample(&points, 1000);
        assert!(thinned.len() <= 2000, "{}", thinned.len());
        assert!(thinned.contains(&(54_321.0, 1e9)));
        assert!(thinned.windows(2).all(|w| w[0].0 < w[1].0), "still in time order");
        let short = vec![(0.0, 1.0), (1.0, 2.0)];
        assert_eq!(downsample(&short, 1000), short);
    }
}
