//! The service: its system user and directories, the systemd unit, and starting it (with a
//! rollback to the previous binary when an upgrade does not come up).

use super::{Context, Detail, Error, Stage, Step, UNIT, UNIT_TEXT};
use crate::relay_admin::{BINARY, RelayAdmin};
use crate::remote::Remote;
use crate::ssh::quote;

pub(super) async fn user<R: Remote>(context: &mut Context<'_, R>) -> Result<Step, Error> {
    let (exists, _) = context.probe("id outpost >/dev/null 2>&1").await?;
    if !exists {
        let add = "useradd --system --home-dir /var/lib/outpost --no-create-home --shell /usr/sbin/nologin outpost";
        context.run(Stage::User, add, b"").await?;
    }
    context
        .run(Stage::User, "install -d -m 0750 -g outpost /etc/outpost /etc/outpost/dkim", b"")
        .await?;
    let detail = if exists { Detail::UserExists } else { Detail::UserCreated };
    Ok(Step::new(Stage::User, !exists, detail))
}

pub(super) async fn unit<R: Remote>(context: &mut Context<'_, R>) -> Result<Step, Error> {
    let (_, current) = context.probe(&format!("cat {} 2>/dev/null", quote(UNIT))).await?;
    if current == UNIT_TEXT {
        return Ok(Step::new(Stage::Unit, false, Detail::UnitCurrent));
    }
    context.upload(Stage::Unit, UNIT_TEXT.as_bytes(), UNIT, 0o644).await?;
    context.run(Stage::Unit, "systemctl daemon-reload", b"").await?;
    Ok(Step::new(Stage::Unit, true, Detail::UnitInstalled { path: UNIT.into() }))
}

/// Starts the relay, or restarts it when an earlier stage `changed` something.
pub(super) async fn start<R: Remote>(
    context: &mut Context<'_, R>,
    changed: bool,
) -> Result<Step, Error> {
    let (active, _) = context.probe("systemctl is-active --quiet outpost-relay").await?;
    let verb = if active && changed { "restart" } else { "start" };
    // A unit that fails to start makes systemctl fail too; the health check below decides.
    context.run(Stage::Service, "systemctl enable --quiet outpost-relay", b"").await?;
    let _ = context.probe(&format!("systemctl {verb} outpost-relay")).await?;
    if wait_running(context.remote).await? {
        return Ok(Step::new(Stage::Service, !active || changed, Detail::Running));
    }
    let (_, journal) =
        context.probe("journalctl -u outpost-relay --no-pager -n 20 2>/dev/null").await?;
    if context.upgraded {
        let back =
            format!("mv -f {b}.previous {b} && systemctl restart outpost-relay", b = quote(BINARY));
        context.run(Stage::Service, &back, b"").await?;
        if wait_running(context.remote).await? {
            let version = context.artifact.version.to_string();
            return Err(Error::RolledBack { version, journal });
        }
    }
    Err(Error::DidNotStart { journal })
}

/// Waits (up to 10 s) for the service to be active and report itself running — the process
/// systemd started, not a status the previous one left behind (whose certificate, say, the new
/// one may no longer serve).
pub(super) async fn wait_running<R: Remote>(remote: &R) -> Result<bool, Error> {
    for _ in 0..50 {
        let (active, main_pid) = probe(
            remote,
            "systemctl is-active --quiet outpost-relay && systemctl show -p MainPID --value outpost-relay",
        )
        .await?;
        let main_pid: Option<u32> = main_pid.trim().parse().ok();
        if active
            && RelayAdmin::new(remote)
                .status()
                .await
                .is_ok_and(|status| status.running && Some(status.pid) == main_pid)
        {
            return Ok(true);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Ok(false)
}

async fn probe<R: Remote>(remote: &R, command: &str) -> Result<(bool, String), Error> {
    let output = remote.run(command, b"", &mut |_, _| {}).await?;
    Ok((output.status == Some(0), output.stdout))
}
