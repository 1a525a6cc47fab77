//! The internet in a box, from Rust: bring it up and down, publish DNS records as a user would in
//! their DNS panel, run commands on its hosts, and read what the receiving mail server judged.
//!
//! Everything goes through the `inbox/inbox` script, so people exploring by hand and tests see
//! the same box. Only one box can be up on a machine at a time (fixed addresses).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde::Deserialize;

/// The script that builds the box.
pub const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/inbox/inbox");

/// How the vps runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VpsMode {
    /// OpenSSH only, in a copy-on-write mount namespace; no systemd.
    Plain,
    /// A real systemd as PID 1 with SSH as a service, for installers that write units.
    Systemd,
}

/// A host in the box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// A client whose resolver is the box DNS: where the app or engine under test can run.
    Wiz,
    /// The user's server.
    Vps,
    /// The ACME CA (pebble).
    Ca,
    /// The receiving mail server for gmail.test.
    Mx,
    /// The authoritative DNS server.
    Dns,
}

impl Host {
    fn name(self) -> &'static str {
        match self {
            Host::Wiz => "wiz",
            Host::Vps => "vps",
            Host::Ca => "ca",
            Host::Mx => "mx",
            Host::Dns => "dns",
        }
    }

    /// Every host.
    pub const ALL: [Host; 5] = [Host::Wiz, Host::Vps, Host::Ca, Host::Mx, Host::Dns];
}

/// The box's settings, read from the env file `inbox up` writes.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The state directory.
    pub state: PathBuf,
    /// The vps's mode.
    pub vps_mode: VpsMode,
    /// The test side's own address on the bridge.
    pub gateway_ip: IpAddr,
    /// The wiz client's address.
    pub wiz_ip: IpAddr,
    /// The vps's IPv4 address.
    pub vps_ip: IpAddr,
    /// The vps's IPv6 address.
    pub vps_ip6: IpAddr,
    /// The mx's IPv4 address.
    pub mx_ip: IpAddr,
    /// The authoritative DNS server's IPv4 address (port 53).
    pub dns_ip: IpAddr,
    /// The caching resolver (dnsmasq in front of `dns`), the box's "public resolver".
    pub res_ip: IpAddr,
    /// The CA's IPv4 address.
    pub ca_ip: IpAddr,
    /// The private key that logs in to the vps as root.
    pub ssh_key: PathBuf,
    /// A known_hosts file with the vps's host key.
    pub ssh_known_hosts: PathBuf,
    /// The vps's host key fingerprint, `SHA256:...`.
    pub ssh_host_fingerprint: String,
    /// The vps's root password.
    pub root_password: String,
    /// The root certificate of the box's own services (pebble's API, the mx's STARTTLS, IMAP).
    pub box_ca: PathBuf,
    /// The ACME directory URL.
    pub acme_directory: String,
    /// Pebble's management API (issuing roots at `/roots/0`).
    pub pebble_management: String,
    /// Where the mx stores messages and verdicts.
    pub mx_mail: PathBuf,
    /// The password of every gmail.test IMAP user.
    pub imap_password: String,
}

impl Settings {
    fn parse(text: &str) -> Result<Settings> {
        let values: HashMap<&str, &str> =
            text.lines().filter_map(|line| line.split_once('=')).collect();
        let get = |key: &str| -> Result<&str> {
            values.get(key).copied().with_context(|| format!("the box's env file has no {key}"))
        };
        let ip = |key: &str| -> Result<IpAddr> {
            get(key)?.parse().with_context(|| format!("{key} is not an IP address"))
        };
        Ok(Settings {
            state: get("INBOX_STATE")?.into(),
            vps_mode: match get("INBOX_VPS_MODE")? {
                "systemd" => VpsMode::Systemd,
                _ => VpsMode::Plain,
            },
            gateway_ip: ip("INBOX_GW_IP")?,
            wiz_ip: ip("INBOX_WIZ_IP")?,
            vps_ip: ip("INBOX_VPS_IP")?,
            vps_ip6: ip("INBOX_VPS_IP6")?,
            mx_ip: ip("INBOX_MX_IP")?,
            dns_ip: ip("INBOX_DNS_IP")?,
            res_ip: ip("INBOX_RES_IP")?,
            ca_ip: ip("INBOX_CA_IP")?,
            ssh_key: get("INBOX_SSH_KEY")?.into(),
            ssh_known_hosts: get("INBOX_SSH_KNOWN_HOSTS")?.into(),
            ssh_host_fingerprint: get("INBOX_SSH_HOST_FINGERPRINT")?.into(),
            root_password: get("INBOX_ROOT_PW")?.into(),
            box_ca: get("INBOX_BOX_CA")?.into(),
            acme_directory: get("INBOX_ACME_DIRECTORY")?.into(),
            pebble_management: get("INBOX_PEBBLE_MGMT")?.into(),
            mx_mail: get("INBOX_MX_MAIL")?.into(),
            imap_password: get("INBOX_IMAP_PASSWORD")?.into(),
        })
    }
}

/// What the mx judged about one message (`<id>.json`).
#[derive(Debug, Clone, Deserialize)]
pub struct Verdict {
    /// The mx's id for the message.
    pub id: String,
    /// The sending IP address.
    pub peer: String,
    /// The EHLO name.
    pub helo: String,
    /// The envelope sender.
    pub mail_from: String,
    /// The envelope recipients.
    pub rcpt_to: Vec<String>,
    /// The `From:` header's address.
    pub header_from: String,
    /// The `Subject:` header.
    pub subject: Option<String>,
    /// TLS on the SMTP connection, if any.
    pub tls: Option<Tls>,
    /// SPF (pyspf).
    pub spf: Spf,
    /// Each DKIM signature (dkimpy).
    pub dkim: Vec<Dkim>,
    /// `pass` if any signature passed, `fail` if none did, `none` without signatures.
    pub dkim_result: String,
    /// DMARC (relaxed alignment).
    pub dmarc: Dmarc,
    /// Reverse DNS of the sender, forward-confirmed.
    pub iprev: Iprev,
    /// The ARC chain (dkimpy's `arc_verify`).
    pub arc: Arc,
}

/// An ARC result.
#[derive(Debug, Clone, Deserialize)]
pub struct Arc {
    /// `none`, `pass` or `fail`.
    pub result: String,
    /// dkimpy's comment.
    pub reason: String,
}

/// What a sending mail server of the box heard from the server it delivered to
/// (`remote_mta.py`).
#[derive(Debug, Clone, Deserialize)]
pub struct Sent {
    /// The MX host it found.
    pub server: String,
    /// Its reply to MAIL.
    pub mail: Option<String>,
    /// Its reply to each RCPT.
    #[serde(default)]
    pub rcpt: Vec<String>,
    /// Its reply at the end of DATA, when every RCPT was taken.
    pub data: Option<String>,
    /// The message as sent.
    pub message: String,
}

/// A message for [`Inbox::send_from`].
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    /// The envelope sender (empty: a bounce).
    pub mail_from: &'a str,
    /// The `From:` header.
    pub from_header: &'a str,
    /// The recipients.
    pub to: &'a [&'a str],
    /// The subject.
    pub subject: &'a str,
    /// DKIM-sign it as gmail.test with the box's key.
    pub signed: bool,
}

/// TLS details of a received message.
#[derive(Debug, Clone, Deserialize)]
pub struct Tls {
    /// E.g. `TLSv1.3`.
    pub version: Option<String>,
    /// The cipher suite.
    pub cipher: Option<String>,
}

/// An SPF result.
#[derive(Debug, Clone, Deserialize)]
pub struct Spf {
    /// `pass`, `fail`, `softfail`, `neutral`, `none`, `temperror`, `permerror`.
    pub result: String,
    /// The checked domain.
    pub domain: String,
}

/// One DKIM signature's result.
#[derive(Debug, Clone, Deserialize)]
pub struct Dkim {
    /// `d=`.
    pub domain: String,
    /// `s=`.
    pub selector: String,
    /// `a=`.
    pub algorithm: String,
    /// `pass` or `fail`.
    pub result: String,
    /// Why it failed.
    pub reason: String,
}

/// A DMARC result.
#[derive(Debug, Clone, Deserialize)]
pub struct Dmarc {
    /// `pass`, `fail`, `none` or `permerror`.
    pub result: String,
    /// The published policy.
    pub policy: Option<String>,
}

/// An iprev result.
#[derive(Debug, Clone, Deserialize)]
pub struct Iprev {
    /// `pass`, `fail` or `temperror`.
    pub result: String,
    /// The PTR names found.
    pub ptr: Vec<String>,
}

/// A box that is up.
#[derive(Debug)]
pub struct Inbox {
    /// Its settings.
    pub settings: Settings,
}

impl Inbox {
    /// Brings the box up with the vps in `mode` (idempotent), and reads its settings.
    pub fn up(mode: VpsMode) -> Result<Inbox> {
        let mut arguments = vec!["up"];
        if mode == VpsMode::Systemd {
            arguments.push("--systemd");
        }
        script(&arguments)?;
        let settings = Settings::parse(&script(&["env"])?)?;
        ensure!(settings.vps_mode == mode, "the box came up with a {:?} vps", settings.vps_mode);
        Ok(Inbox { settings })
    }

    /// Stops everything the box started and removes its network.
    pub fn down() -> Result<()> {
        script(&["down"]).map(drop)
    }

    /// Like [`Inbox::down`], and also deletes the box's keys, certificates and received mail,
    /// so the next `up` starts from nothing.
    pub fn purge() -> Result<()> {
        script(&["down", "--purge"]).map(drop)
    }

    /// Sends an RFC 2136 update to the box DNS, as lines for nsupdate
    /// (`update add NAME TTL TYPE VALUE`, `update delete NAME TYPE`, optionally `zone Z` first).
    pub fn dns_update(&self, lines: &[&str]) -> Result<()> {
        let mut arguments = vec!["dns"];
        arguments.extend_from_slice(lines);
        script(&arguments).map(drop)
    }

    /// Replaces every record of `record_type` at `name` with `values` (each in zone-file syntax;
    /// a long TXT as several quoted strings).
    pub fn publish(&self, name: &str, record_type: &str, ttl: u32, values: &[&str]) -> Result<()> {
        let delete = format!("update delete {name} {record_type}");
        let adds: Vec<String> = values
            .iter()
            .map(|value| format!("update add {name} {ttl} {record_type} {value}"))
            .collect();
        let mut lines = vec![delete.as_str()];
        lines.extend(adds.iter().map(String::as_str));
        self.dns_update(&lines)
    }

    /// Removes every record of `record_type` at `name`.
    pub fn remove(&self, name: &str, record_type: &str) -> Result<()> {
        self.dns_update(&[&format!("update delete {name} {record_type}")])
    }

    /// Asks the box DNS directly for `name`'s records of `record_type`, from `host`.
    pub fn query_from(&self, host: Host, name: &str, record_type: &str) -> Result<Vec<String>> {
        let output =
            self.exec(host, &["dig", "+short", "+time=2", "+tries=1", name, record_type])?;
        Ok(output.lines().map(str::to_string).collect())
    }

    /// Runs a command on a host and returns its standard output; fails with its standard error
    /// when it exits non-zero.
    pub fn exec(&self, host: Host, command: &[&str]) -> Result<String> {
        let mut arguments = vec!["exec", host.name()];
        arguments.extend_from_slice(command);
        script(&arguments)
    }

    /// Runs a command on a host and returns what it did, whether it succeeded or not.
    pub fn exec_output(&self, host: Host, command: &[&str]) -> Result<Output> {
        let mut arguments = vec!["exec", host.name()];
        arguments.extend_from_slice(command);
        Command::new(SCRIPT).args(&arguments).output().context("running the inbox script")
    }

    /// Sends `message` from `host` as a remote mail server would (MX lookup in the box's DNS,
    /// STARTTLS), and returns every reply.
    pub fn send_from(&self, host: Host, message: &Outgoing<'_>) -> Result<Sent> {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/inbox/remote_mta.py");
        let dns = self.settings.dns_ip.to_string();
        let key = self.settings.state.join("mx/dkim.key");
        let key = key.to_str().context("the key's path")?;
        let mut command = vec![
            "/usr/bin/python3",
            script,
            "--dns",
            &dns,
            "--mail-from",
            message.mail_from,
            "--from-header",
            message.from_header,
            "--subject",
            message.subject,
        ];
        for to in message.to {
            command.extend(["--to", to]);
        }
        if message.signed {
            command.extend(["--sign-key", key]);
        }
        let output = self.exec(host, &command)?;
        serde_json::from_str(&output).with_context(|| format!("remote_mta.py said {output:?}"))
    }

    /// Runs a shell command on the vps over SSH as root, with the test key.
    pub fn ssh(&self, command: &str) -> Result<String> {
        script(&["ssh", command])
    }

    /// Every verdict the mx has written so far, oldest first.
    pub fn verdicts(&self) -> Result<Vec<Verdict>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.settings.mx_mail)
            .with_context(|| format!("reading {}", self.settings.mx_mail.display()))?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|extension| extension == "json"))
            .collect();
        files.sort();
        files.iter().map(|path| read_verdict(path)).collect()
    }

    /// Waits (at most `timeout`) for a verdict on a message with this subject.
    pub fn wait_for_verdict(&self, subject: &str, timeout: Duration) -> Result<Verdict> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(verdict) = self
                .verdicts()?
                .into_iter()
                .rev()
                .find(|verdict| verdict.subject.as_deref() == Some(subject))
            {
                return Ok(verdict);
            }
            if Instant::now() >= deadline {
                bail!("no message with subject {subject:?} reached the mx within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The stored copy of a message (with the mx's Authentication-Results), as the mx wrote it.
    pub fn stored_message(&self, verdict: &Verdict) -> Result<String> {
        let path = self.settings.mx_mail.join(format!("{}.eml", verdict.id));
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
    }

    /// Fetches message `uid` of `user`'s INBOX over IMAPS, as a mail client would.
    pub fn imap_fetch(&self, user: &str, uid: u32) -> Result<String> {
        let output = Command::new("curl")
            .args(["--silent", "--show-error", "--max-time", "10", "--cacert"])
            .arg(&self.settings.box_ca)
            // A fixed address for the name: nothing is looked up outside the box.
            .args(["--resolve", &format!("imap.gmail.test:993:{}", self.settings.mx_ip)])
            .args(["--user", &format!("{user}:{}", self.settings.imap_password)])
            .arg(format!("imaps://imap.gmail.test/INBOX;UID={uid}"))
            .output()
            .context("running curl")?;
        ensure!(
            output.status.success(),
            "IMAP fetch failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

fn read_verdict(path: &Path) -> Result<Verdict> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Runs the inbox script and returns its standard output.
fn script(arguments: &[&str]) -> Result<String> {
    let output =
        Command::new(SCRIPT).args(arguments).output().context("running the inbox script")?;
    ensure!(
        output.status.success(),
        "`inbox {}` failed: {}{}",
        arguments.join(" "),
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_read_from_the_env_file() {
        let text = "INBOX_STATE=/tmp/x\nINBOX_VPS_MODE=systemd\nINBOX_GW_IP=198.51.100.1\n\
            INBOX_WIZ_IP=198.51.100.2\nINBOX_VPS_IP=198.51.100.10\nINBOX_VPS_IP6=2001:db8:100::10\n\
            INBOX_MX_IP=198.51.100.25\nINBOX_DNS_IP=198.51.100.53\nINBOX_RES_IP=198.51.100.54\nINBOX_CA_IP=198.51.100.20\n\
            INBOX_SSH_KEY=/k\nINBOX_SSH_KNOWN_HOSTS=/kh\nINBOX_SSH_HOST_FINGERPRINT=SHA256:abc\n\
            INBOX_ROOT_PW=pw\nINBOX_BOX_CA=/ca.pem\nINBOX_ACME_DIRECTORY=https://ca.inbox.test:14000/dir\n\
            INBOX_PEBBLE_MGMT=https://198.51.100.20:15000\nINBOX_MX_MAIL=/mail\nINBOX_IMAP_PASSWORD=i\n";
        let settings = Settings::parse(text).unwrap();
        assert_eq!(settings.vps_mode, VpsMode::Systemd);
        assert_eq!(settings.vps_ip6.to_string(), "2001:db8:100::10");
        assert_eq!(settings.ssh_host_fingerprint, "SHA256:abc");
        let error = Settings::parse("INBOX_STATE=/tmp/x\n").unwrap_err();
        assert!(error.to_string().contains("INBOX_VPS_MODE"), "{error}");
    }
}
