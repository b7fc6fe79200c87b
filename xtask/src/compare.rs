//! `cargo xtask compare`.

#[derive(clap::Args)]
pub struct CompareCmd {}

impl CompareCmd {
    pub fn run(self) -> anyhow::Result<i32> {
        anyhow::bail!("not yet built")
    }
}
