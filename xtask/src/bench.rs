//! `cargo xtask bench`.

#[derive(clap::Args)]
pub struct BenchCmd {}

impl BenchCmd {
    pub fn run(self) -> anyhow::Result<i32> {
        anyhow::bail!("not yet built")
    }
}
