//! Which interpreters the calibration runs: pyenv's builds of every release the model knows,
//! `python3` where it is another release, or those `--python` names.

use std::path::PathBuf;
use std::process::Command;

use heaplab_core::version::{self, Version};

/// One interpreter and the release of the model it is compared with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interpreter {
    /// The path or command that runs it.
    pub command: String,
    /// Its release, as the model has it.
    pub version: &'static Version,
    /// `CPython 3.12.1`.
    pub label: String,
}

impl Interpreter {
    /// The model at this interpreter's release: `cycle@3.12+pymalloc`.
    pub fn strategy(&self) -> String {
        format!("cycle@{}+pymalloc", self.version.name)
    }
}

/// The interpreters to run, oldest release first, and what was asked for and not found.
///
/// With no `selection`: for every release whose `cycle` collector is modelled, pyenv's build
/// (`$PYENV_ROOT`, else `~/.pyenv`: the patch release the model was measured with, else the
/// newest of that release), then `python3` on the `PATH` if it is a release not found so.
/// With a selection, each item is a release (`3.12`: pyenv's build, else `python3` if it is
/// that release) or the path of an interpreter.
pub fn find(selection: &[String]) -> (Vec<Interpreter>, Vec<String>) {
    let mut found: Vec<Interpreter> = Vec::new();
    let mut missing = Vec::new();
    let add = |interpreter: Interpreter, found: &mut Vec<Interpreter>| {
        if !found.iter().any(|other| other.version == interpreter.version) {
            found.push(interpreter);
        }
    };
    if selection.is_empty() {
        for release in version::VERSIONS.iter().filter(|v| v.has_collector("cycle")) {
            if let Some(interpreter) = pyenv_build(release) {
                add(interpreter, &mut found);
            }
        }
        if let Ok(interpreter) = probe("python3") {
            add(interpreter, &mut found);
        }
    } else {
        for item in selection {
            let item = item.trim();
            if let Ok(release) = version::find(item) {
                if !release.has_collector("cycle") {
                    missing.push(format!("CPython {item} (the cycle collector is not modelled at {item})"));
                    continue;
                }
                match pyenv_build(release)
                    .or_else(|| probe("python3").ok().filter(|python| python.version == release))
                {
                    Some(interpreter) => add(interpreter, &mut found),
                    None => missing
                        .push(format!("CPython {item} (no pyenv build, and python3 is another release)")),
                }
            } else if looks_like_a_release(item) {
                missing.push(format!(
                    "CPython {item} (not a release the model knows: {})",
                    version::names().join(", ")
                ));
            } else {
                match probe(item) {
                    Ok(interpreter) => add(interpreter, &mut found),
                    Err(why) => missing.push(format!("{item} ({why})")),
                }
            }
        }
    }
    found.sort_by_key(|interpreter| interpreter.version.minor);
    (found, missing)
}

/// pyenv's build of `release`, if there is one that runs.
fn pyenv_build(release: &'static Version) -> Option<Interpreter> {
    let root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".pyenv")))?;
    let versions = root.join("versions");
    let exact = release.measured_with.map(|patch| versions.join(patch).join("bin/python3"));
    let path = match exact.filter(|path| path.exists()) {
        Some(path) => path,
        None => {
            let prefix = format!("{}.", release.name);
            let mut candidates: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(&versions)
                .ok()?
                .filter_map(Result::ok)
                .filter_map(|entry| {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let patch = name.strip_prefix(&prefix)?.parse::<u32>().ok()?;
                    Some((vec![patch], entry.path().join("bin/python3")))
                })
                .filter(|(_, path)| path.exists())
                .collect();
            candidates.sort();
            candidates.pop()?.1
        }
    };
    probe(&path.to_string_lossy()).ok().filter(|interpreter| interpreter.version == release)
}

/// Runs `command --version` and names the release it is.
fn probe(command: &str) -> Result<Interpreter, String> {
    let output =
        Command::new(command).arg("--version").output().map_err(|err| format!("does not run: {err}"))?;
    if !output.status.success() {
        return Err(format!("`--version` failed ({})", output.status));
    }
    let text = if output.stdout.is_empty() { output.stderr } else { output.stdout };
    let text = String::from_utf8_lossy(&text).trim().to_owned();
    let full = parse_version(&text).ok_or_else(|| format!("says {text:?}, not `Python X.Y.Z`"))?;
    let release_name = full.splitn(3, '.').take(2).collect::<Vec<_>>().join(".");
    let release =
        version::find(&release_name).map_err(|_| format!("is Python {full}, a release not modelled"))?;
    if !release.has_collector("cycle") {
        return Err(format!("is Python {full}, where the cycle collector is not modelled"));
    }
    Ok(Interpreter { command: command.to_owned(), version: release, label: format!("CPython {full}") })
}

/// Whether `item` is written as a release (`3.7`) rather than a path.
fn looks_like_a_release(item: &str) -> bool {
    let mut parts = item.split('.');
    parts.next().is_some_and(|major| !major.is_empty() && major.bytes().all(|b| b.is_ascii_digit()))
        && parts.next().is_some_and(|minor| !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit()))
        && parts.next().is_none()
}

/// `3.12.1` from `Python 3.12.1`.
fn parse_version(text: &str) -> Option<String> {
    let rest = text.strip_prefix("Python ")?;
    let full = rest.split_whitespace().next()?;
    let mut parts = full.split('.');
    let (major, minor) = (parts.next()?, parts.next()?);
    (major.parse::<u32>().is_ok() && minor.parse::<u32>().is_ok()).then(|| full.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_read_from_the_banner() {
        assert_eq!(parse_version("Python 3.12.1"), Some("3.12.1".to_owned()));
        assert_eq!(parse_version("Python 3.13.0rc1"), Some("3.13.0rc1".to_owned()));
        assert_eq!(parse_version("Python 2"), None);
        assert_eq!(parse_version("PyPy 7.3"), None);
    }

    #[test]
    fn what_is_not_found_is_named() {
        let (found, missing) = find(&["/no/such/python".to_owned(), "3.14".to_owned(), "3.7".to_owned()]);
        assert!(found.is_empty());
        assert_eq!(missing.len(), 3, "{missing:?}");
        assert!(missing[0].starts_with("/no/such/python (does not run"), "{missing:?}");
        assert!(missing[1].contains("not modelled at 3.14"), "{missing:?}");
        assert!(missing[2].starts_with("CPython 3.7 (not a release the model knows: 3.8, "), "{missing:?}");
    }

    #[test]
    fn a_selected_release_is_its_own_interpreter() {
        // Where pyenv has 3.12 (skipped with a message elsewhere), `--python 3.12` runs it at 3.12.
        let (found, _) = find(&["3.12".to_owned()]);
        assert!(found.iter().all(|interpreter| interpreter.version.name == "3.12"), "{found:?}");
        if let Some(interpreter) = found.first() {
            assert_eq!(interpreter.strategy(), "cycle@3.12+pymalloc");
            assert!(interpreter.label.starts_with("CPython 3.12."), "{}", interpreter.label);
        } else {
            eprintln!("a_selected_release_is_its_own_interpreter: no CPython 3.12 here; checked nothing");
        }
    }
}
