//! The limits of one child run: byte sizes as the command line writes them, the
//! machine's memory, and the time limit.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};

/// A number of bytes written as `512M`, `4G`, `1.5GiB` or plain `1048576`.
///
/// Suffixes are binary (`K` = 1024) and case-insensitive; a `B` or `iB` after
/// the letter is accepted and changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<Self> {
        let trimmed = text.trim();
        let number_end = trimmed.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(trimmed.len());
        let (number, suffix) = trimmed.split_at(number_end);
        let multiplier: u64 = match suffix.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => 1 << 10,
            "m" | "mb" | "mib" => 1 << 20,
            "g" | "gb" | "gib" => 1 << 30,
            "t" | "tb" | "tib" => 1 << 40,
            _ => bail!(
                "{text:?} is not a byte size: write a number of bytes, optionally followed by K, M, G or T (e.g. 512M, 4G)"
            ),
        };
        let value: f64 = number
            .parse()
            .with_context(|| format!("{text:?} is not a byte size: expected a number such as 512M or 4G"))?;
        let bytes = value * multiplier as f64;
        if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
            bail!("{text:?} is not a usable byte size: it must be at least one byte");
        }
        Ok(ByteSize(bytes as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&human_bytes(self.0))
    }
}

/// `bytes` written with a binary unit, e.g. `1.5 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit_index = 0;
    while value >= 1024.0 && unit_index + 1 < UNITS.len() {
        value /= 1024.0;
        unit_index += 1;
    }
    if unit_index == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit_index]) }
}

/// A time limit in seconds, fractions allowed (`60`, `0.5`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Seconds(pub Duration);

impl FromStr for Seconds {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<Self> {
        let value: f64 =
            text.trim().parse().with_context(|| format!("{text:?} is not a number of seconds"))?;
        if !(value > 0.0 && value.is_finite()) {
            bail!("{text:?} is not a usable time limit: it must be a positive number of seconds");
        }
        Ok(Seconds(Duration::from_secs_f64(value)))
    }
}

/// The time limit of one run when the command line gives none.
pub fn default_timeout(quick: bool) -> Duration {
    if quick { Duration::from_secs(60) } else { Duration::from_secs(600) }
}

/// `MemTotal` of a `/proc/meminfo` text, in bytes.
pub fn parse_mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|line| line.starts_with("MemTotal:"))?;
    let kibibytes: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kibibytes * 1024)
}

/// The machine's memory in bytes, from `/proc/meminfo`.
pub fn mem_total_bytes() -> anyhow::Result<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").context("reading /proc/meminfo")?;
    parse_mem_total(&meminfo).context("/proc/meminfo has no MemTotal line")
}

/// The memory cap of one run when the command line gives none: half the machine.
pub fn default_mem_limit() -> anyhow::Result<u64> {
    Ok(mem_total_bytes()? / 2)
}

/// `VmRSS` of a `/proc/PID/status` text, in bytes.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kibibytes: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kibibytes * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Option<u64>) {
        let parsed = text.parse::<ByteSize>().ok().map(|size| size.0);
        assert_eq!(parsed, expected, "parsing {text:?}");
    }

    #[test]
    fn plain_bytes() {
        check("1048576", Some(1_048_576));
        check("1", Some(1));
        check(" 4096 ", Some(4096));
    }

    #[test]
    fn binary_suffixes() {
        check("512M", Some(512 << 20));
        check("4G", Some(4 << 30));
        check("64k", Some(64 << 10));
        check("2T", Some(2 << 40));
        check("512MiB", Some(512 << 20));
        check("4gb", Some(4 << 30));
        check("100B", Some(100));
        check("1.5G", Some(3 << 29));
    }

    #[test]
    fn garbage_is_refused() {
        check("", None);
        check("M", None);
        check("lots", None);
        check("512X", None);
        check("4 G B", None);
        check("-1G", None);
        check("0", None);
        check("0M", None);
        check("1.2.3G", None);
    }

    #[test]
    fn refusals_say_what_is_expected() {
        let error = "12Q".parse::<ByteSize>().unwrap_err().to_string();
        assert!(error.contains("512M"), "{error}");
    }

    #[test]
    fn seconds() {
        assert_eq!("60".parse::<Seconds>().unwrap().0, Duration::from_secs(60));
        assert_eq!("0.5".parse::<Seconds>().unwrap().0, Duration::from_millis(500));
        assert!("0".parse::<Seconds>().is_err());
        assert!("-3".parse::<Seconds>().is_err());
        assert!("soon".parse::<Seconds>().is_err());
        assert!("inf".parse::<Seconds>().is_err());
    }

    #[test]
    fn quick_sweeps_have_a_shorter_time_limit() {
        assert!(default_timeout(true) < default_timeout(false));
    }

    #[test]
    fn mem_total_from_meminfo() {
        let meminfo = "MemTotal:       24500000 kB\nMemFree:        20000000 kB\n";
        assert_eq!(parse_mem_total(meminfo), Some(24_500_000 * 1024));
        assert_eq!(parse_mem_total("MemFree: 1 kB\n"), None);
    }

    #[test]
    fn this_machine_has_memory() {
        assert!(mem_total_bytes().unwrap() > 0);
    }

    #[test]
    fn vm_rss_from_proc_status() {
        let status = "Name:\theaplab\nVmPeak:\t  900 kB\nVmRSS:\t    1234 kB\nThreads:\t2\n";
        assert_eq!(parse_vm_rss(status), Some(1234 * 1024));
        assert_eq!(parse_vm_rss("Name:\tzombie\n"), None);
    }

    #[test]
    fn human_bytes_picks_a_binary_unit() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(512 << 20), "512.0 MiB");
    }
}
