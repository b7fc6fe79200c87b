//! `cargo xtask report`.

#[derive(clap::Args)]
pub struct ReportCmd {}

impl ReportCmd {
    pub fn run(self) -> anyhow::Result<i32> {
        anyhow::bail!("not yet built")
    }
}
