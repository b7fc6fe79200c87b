//! Fault injection, for testing that a sweep survives its runs failing.
//!
//! `HEAPLAB_FAULT=KIND@WORKLOAD` makes `heaplab run` misbehave when it runs
//! WORKLOAD: `segv` (SIGSEGV, raised as a real invalid access would), `abort`, `hang` (never
//! returns) or `oom` (allocates and touches memory until it is stopped).

use std::fmt;

/// The environment variable that arms a fault.
pub const FAULT_VAR: &str = "HEAPLAB_FAULT";

/// A way to fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// A write through an invalid pointer: SIGSEGV.
    Segv,
    /// `abort()`: SIGABRT.
    Abort,
    /// Sleeps forever.
    Hang,
    /// Allocates and touches memory until killed.
    Oom,
}

impl Fault {
    /// The fault armed for `workload` by `spec` (the value of [`FAULT_VAR`]), if any.
    pub fn armed_for(spec: &str, workload: &str) -> Result<Option<Fault>, String> {
        let (kind, target) = spec.split_once('@').ok_or_else(|| {
            format!("{FAULT_VAR}='{spec}' is not KIND@WORKLOAD (KIND: segv, abort, hang, oom)")
        })?;
        let fault = match kind {
            "segv" => Fault::Segv,
            "abort" => Fault::Abort,
            "hang" => Fault::Hang,
            "oom" => Fault::Oom,
            _ => return Err(format!("{FAULT_VAR}: unknown fault '{kind}' (valid: segv, abort, hang, oom)")),
        };
        Ok((target == workload).then_some(fault))
    }

    /// Fails as armed. Never returns.
    pub fn trigger(self) -> ! {
        match self {
            Fault::Segv => {
                // Restore the default action first (the Rust runtime installs a SIGSEGV handler
                // for stack overflows), so the signal kills the process as a real fault would.
                // SAFETY: `signal` and `raise` with a valid signal number and SIG_DFL touch no
                // memory of ours; the process dies of the signal it raises.
                unsafe {
                    libc::signal(libc::SIGSEGV, libc::SIG_DFL);
                    libc::raise(libc::SIGSEGV);
                }
                unreachable!("SIGSEGV with its default action did not end the process")
            }
            Fault::Abort => std::process::abort(),
            Fault::Hang => loop {
                std::thread::park();
            },
            Fault::Oom => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 64 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Fault::Segv => "segv",
            Fault::Abort => "abort",
            Fault::Hang => "hang",
            Fault::Oom => "oom",
        };
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_arm_only_their_workload() {
        assert_eq!(Fault::armed_for("segv@churn", "churn"), Ok(Some(Fault::Segv)));
        assert_eq!(Fault::armed_for("hang@churn", "binary-trees"), Ok(None));
        assert_eq!(Fault::armed_for("oom@x", "x"), Ok(Some(Fault::Oom)));
        assert!(Fault::armed_for("melt@churn", "churn").unwrap_err().contains("valid: segv"));
        assert!(Fault::armed_for("segv", "churn").unwrap_err().contains("KIND@WORKLOAD"));
    }
}
