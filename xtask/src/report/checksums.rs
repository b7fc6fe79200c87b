//! The checksum check: every strategy computes the same result for the same workload, size,
//! threads and seed, so every successful run of a group must give one checksum. The sweep runs it
//! at its end and the report says what it found, so a merged or published report carries it too.
//!
//! A group is judged within each invocation of a sweep (the `invocation` parameter): a workload
//! whose input lives outside the binary (a traced program's recording) may be given a new input
//! between two invocations, and then its checksum moves for every strategy at once. That is an
//! input change, said as such; strategies disagreeing within one invocation is an error.

use std::collections::{BTreeMap, BTreeSet};

use heaplab_core::{Record, Status};

/// A workload at a size, thread count and seed: the runs that must agree.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Group {
    pub workload: String,
    pub size: u64,
    pub threads: u32,
    pub seed: u64,
}

impl std::fmt::Display for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} size={} threads={} seed={}", self.workload, self.size, self.threads, self.seed)
    }
}

/// Strategies that disagree on a group's checksum within one invocation.
#[derive(Clone, Debug, PartialEq)]
pub struct Disagreement {
    pub group: Group,
    /// The invocation, empty for runs that name none.
    pub invocation: String,
    /// Each checksum and the strategies that gave it.
    pub checksums: BTreeMap<String, BTreeSet<String>>,
}

impl Disagreement {
    /// One line: the group, and each checksum with its strategies.
    pub fn line(&self) -> String {
        let sides: Vec<String> = self
            .checksums
            .iter()
            .map(|(checksum, strategies)| {
                format!(
                    "{checksum} from {}",
                    strategies.iter().map(String::as_str).collect::<Vec<_>>().join(", ")
                )
            })
            .collect();
        let within = if self.invocation.is_empty() {
            String::new()
        } else {
            format!(" (invocation {})", self.invocation)
        };
        format!("{}{within}: {}", self.group, sides.join("; "))
    }
}

/// What the check found over a set of runs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Check {
    /// Groups with at least one successful run that has a checksum.
    pub groups: usize,
    /// Successful runs with a checksum.
    pub runs: usize,
    /// Strategies that disagree within one invocation: an error.
    pub disagreements: Vec<Disagreement>,
    /// Groups whose strategies agree within each invocation but whose checksum differs between
    /// invocations (their input changed), with the number of distinct checksums.
    pub input_changes: Vec<(Group, usize)>,
}

/// Checks every successful run's checksum against the rest of its group.
pub fn check(records: &[Record]) -> Check {
    // group → invocation → checksum → strategies
    type ByInvocation = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;
    let mut by_group: BTreeMap<Group, ByInvocation> = BTreeMap::new();
    let mut runs = 0;
    for record in records.iter().filter(|record| record.status == Status::Ok) {
        let Some(checksum) = &record.checksum else { continue };
        runs += 1;
        let group = Group {
            workload: record.workload.clone(),
            size: record.size,
            threads: record.threads,
            seed: record.seed,
        };
        let invocation =
            heaplab_core::record::param(&record.params, "invocation").unwrap_or_default().to_owned();
        by_group
            .entry(group)
            .or_default()
            .entry(invocation)
            .or_default()
            .entry(checksum.clone())
            .or_default()
            .insert(record.strategy.clone());
    }
    let mut check = Check { groups: by_group.len(), runs, ..Check::default() };
    for (group, invocations) in by_group {
        let mut within = false;
        for (invocation, checksums) in &invocations {
            if checksums.len() > 1 {
                within = true;
                check.disagreements.push(Disagreement {
                    group: group.clone(),
                    invocation: invocation.clone(),
                    checksums: checksums.clone(),
                });
            }
        }
        let distinct: BTreeSet<&String> =
            invocations.values().flat_map(|checksums| checksums.keys()).collect();
        if !within && distinct.len() > 1 {
            check.input_changes.push((group, distinct.len()));
        }
    }
    check
}

impl Check {
    /// The sentences a report gives: agreement, each disagreement, each input change.
    pub fn sentences(&self) -> Vec<String> {
        let mut sentences = Vec::new();
        if self.runs == 0 {
            return sentences;
        }
        if self.disagreements.is_empty() {
            sentences.push(format!(
                "Checksums: every strategy gave its group's checksum — {} successful runs in {} groups (a workload at one size, thread count and seed), judged within each invocation of the sweep.",
                self.runs, self.groups
            ));
        } else {
            sentences.push(format!(
                "**Checksums disagree** in {} of {} groups: strategies that should compute the same result did not, so their figures measure different work. Within one invocation:",
                self.disagreements.len(),
                self.groups
            ));
        }
        if !self.input_changes.is_empty() {
            let names: Vec<String> =
                self.input_changes.iter().map(|(group, n)| format!("`{group}` ({n} checksums)")).collect();
            sentences.push(format!(
                "{} groups agree within each invocation but their checksum differs between invocations, for every strategy alike: their input changed between them (a traced program recorded anew, say), so runs of different invocations did slightly different work: {}.",
                self.input_changes.len(),
                names.join(", ")
            ));
        }
        sentences
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(strategy: &str, workload: &str, checksum: &str, invocation: &str) -> Record {
        let mut record = crate::report::analysis::tests::run(strategy, workload, 100, 1, 1);
        record.checksum = Some(checksum.to_owned());
        if !invocation.is_empty() {
            record.params = format!("thp=never;invocation={invocation}");
        }
        record
    }

    #[test]
    fn agreeing_checksums_find_nothing_and_count_the_groups() {
        let found =
            check(&[run("a", "churn", "01", ""), run("b", "churn", "01", ""), run("a", "other", "02", "")]);
        assert_eq!((found.groups, found.runs), (2, 3));
        assert!(found.disagreements.is_empty() && found.input_changes.is_empty());
        let sentences = found.sentences();
        assert_eq!(sentences.len(), 1);
        assert!(sentences[0].contains("3 successful runs in 2 groups"), "{}", sentences[0]);
    }

    #[test]
    fn a_disagreement_names_the_group_the_invocation_and_each_side() {
        let found = check(&[
            run("a", "churn", "01", "x"),
            run("b", "churn", "01", "x"),
            run("c", "churn", "ff", "x"),
        ]);
        assert_eq!(found.disagreements.len(), 1);
        assert_eq!(
            found.disagreements[0].line(),
            "churn size=100 threads=1 seed=42 (invocation x): 01 from a, b; ff from c"
        );
        assert!(found.input_changes.is_empty());
        assert!(found.sentences()[0].contains("**Checksums disagree** in 1 of 1 groups"));
    }

    #[test]
    fn a_checksum_that_moves_between_invocations_for_everyone_is_an_input_change() {
        let found = check(&[
            run("a", "trace", "01", "x"),
            run("b", "trace", "01", "x"),
            run("a", "trace", "02", "y"),
            run("b", "trace", "02", "y"),
        ]);
        assert!(found.disagreements.is_empty());
        assert_eq!(found.input_changes.len(), 1);
        assert_eq!(found.input_changes[0].1, 2);
        let sentences = found.sentences();
        assert!(
            sentences[1].contains("`trace size=100 threads=1 seed=42` (2 checksums)"),
            "{}",
            sentences[1]
        );
    }

    #[test]
    fn a_disagreement_within_an_invocation_is_not_called_an_input_change() {
        let found = check(&[
            run("a", "trace", "01", "x"),
            run("b", "trace", "02", "x"),
            run("a", "trace", "03", "y"),
        ]);
        assert_eq!(found.disagreements.len(), 1);
        assert!(found.input_changes.is_empty());
    }

    #[test]
    fn failed_runs_and_runs_without_a_checksum_take_no_part() {
        let mut crashed = run("c", "churn", "ff", "");
        crashed.status = Status::Crashed;
        let mut silent = run("d", "churn", "ee", "");
        silent.checksum = None;
        let found = check(&[run("a", "churn", "01", ""), crashed, silent]);
        assert_eq!((found.groups, found.runs), (1, 1));
        assert!(found.disagreements.is_empty());
        assert!(check(&[]).sentences().is_empty());
    }
}
