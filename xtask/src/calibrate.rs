//! `cargo xtask calibrate`.

#[derive(clap::Args)]
pub struct CalibrateCmd {}

impl CalibrateCmd {
    pub fn run(self) -> anyhow::Result<i32> {
        anyhow::bail!("not yet built")
    }
}
