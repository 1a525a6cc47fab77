//! The binary: uploaded beside the installed one, verified, run once on the server, swapped in
//! with the previous one kept.

use super::{Context, Detail, Error, Stage, Step};
use crate::relay_admin::BINARY;
use crate::remote::Remote;
use crate::ssh::quote;

pub(super) async fn install<R: Remote>(context: &mut Context<'_, R>) -> Result<Step, Error> {
    let artifact = *context.artifact;
    let version = artifact.version.to_string();
    let (_, current) =
        context.probe(&format!("sha256sum {} 2>/dev/null | cut -d' ' -f1", quote(BINARY))).await?;
    if current.trim() == artifact.sha256 {
        return Ok(Step::new(Stage::Binary, false, Detail::BinaryCurrent { version }));
    }
    let staged = format!("{BINARY}.new");
    context.upload(Stage::Binary, artifact.bytes, &staged, 0o755).await?;
    let verify = format!("echo {}  {} | sha256sum -c --quiet", artifact.sha256, quote(&staged));
    if !context.probe(&verify).await?.0 {
        let _ = context.probe(&format!("rm -f {}", quote(&staged))).await?;
        return Err(Error::Damaged);
    }
    // The new binary must run on this server before it replaces anything.
    let (runs, output) = context.probe(&format!("{} --version", quote(&staged))).await?;
    if !runs || !output.starts_with("outpost-relay ") {
        let _ = context.probe(&format!("rm -f {}", quote(&staged))).await?;
        return Err(Error::DoesNotRun { output: output.trim().to_string() });
    }
    context.upgraded = context.probe(&format!("test -f {}", quote(BINARY))).await?.0;
    let swap = format!(
        "if [ -f {b} ]; then cp -p {b} {b}.previous; fi && mv -f {s} {b}",
        b = quote(BINARY),
        s = quote(&staged)
    );
    context.run(Stage::Binary, &swap, b"").await?;
    let bytes = artifact.bytes.len() as u64;
    Ok(Step::new(Stage::Binary, true, Detail::BinaryInstalled { version, bytes }))
}
