//! Server checks: can this server send mail? Each check runs small, read-only commands over SSH
//! and says pass, warn or fail, with what to do in plain words.
//!
//! The commands only read (`/etc/os-release`, `uname`, `ss`, `ip`, `df`, …); nothing is changed.
//! Interpreting their output is separate from running them (`judge_*` functions), so the rules
//! are tested without a server and the whole set is tested against the test bed's vps.

use std::net::IpAddr;

use serde::Serialize;

use crate::install::MailServer;
use crate::remote::Remote;
use crate::ssh;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
#[ts(rename = "CheckVerdict")]
pub enum Verdict {
    /// Fine.
    Pass,
    /// Works, but worth attention.
    Warn,
    /// Must be fixed before installing.
    Fail,
}

/// One check's result: the verdict and what was found, as data (the UI's catalogue words it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    /// The outcome.
    pub verdict: Verdict,
    /// What was found (its `id` names the check).
    pub found: Finding,
}

/// What each check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(tag = "id", rename_all = "camelCase", rename_all_fields = "camelCase")]
#[ts(rename = "CheckFinding")]
pub enum Finding {
    /// The operating system: its name (`PRETTY_NAME`), and whether it is one Outpost is tested
    /// on; no name when it could not be identified.
    Os { name: Option<String>, tested: bool },
    /// The processor architecture (`uname -m`).
    Arch { machine: String },
    /// Whether systemd is the init system.
    Systemd { running: bool },
    /// The mail and web ports in use, and by what.
    Ports { busy: Vec<BusyPort> },
    /// The server's addresses.
    Addresses {
        #[ts(as = "Vec<String>")]
        public: Vec<IpAddr>,
        #[ts(as = "Vec<String>")]
        private: Vec<IpAddr>,
    },
    /// Whether the server reaches a mail server (`target`) on port 25.
    Outbound25 { target: String, reachable: bool },
    /// The current reverse DNS of each public address.
    Rdns {
        /// Each address and its name.
        names: Vec<ReverseName>,
        /// The mail host compared with; none before the domain is chosen.
        mail_host: Option<String>,
    },
    /// Whether the clock is synchronised (`None`: could not be checked).
    Clock { synchronised: Option<bool> },
    /// Free disk space on `/` and `/var`, the lower of the two.
    Disk { free_mb: Option<u64> },
    /// Available memory.
    Memory { available_mb: Option<u64> },
    /// Outpost's own relay, if an earlier install left it here: its version, and whether its
    /// service runs.
    Relay { version: Option<String>, running: bool },
}

/// A port in use, and the program using it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct BusyPort {
    /// The port.
    pub port: u16,
    /// The process name `ss` shows, when it shows one.
    pub program: Option<String>,
    /// The mail server that process belongs to, if it is one the install can stop.
    pub mail_server: Option<MailServer>,
}

/// One public address and its reverse DNS name, if it has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct ReverseName {
    /// The address.
    #[ts(as = "String")]
    pub ip: IpAddr,
    /// Its PTR name.
    pub name: Option<String>,
}

impl Check {
    fn new(verdict: Verdict, found: Finding) -> Check {
        Check { verdict, found }
    }
}

/// Settings of the checks.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The mail server the outbound port-25 probe connects to: `host:port`. On the internet a
    /// well-known MX; tests point it into their own network.
    pub outbound_probe: String,
    /// The mail host the user chose, once they have: reverse DNS must name it.
    pub mail_host: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { outbound_probe: "gmail-smtp-in.l.google.com:25".into(), mail_host: None }
    }
}

/// Runs every check.
pub async fn run_all<R: Remote>(
    session: &R,
    settings: &Settings,
) -> Result<Vec<Check>, ssh::Error> {
    let run =
        |command: &'static str| async move { session.run(command, b"", &mut |_, _| {}).await };
    let os = run("cat /etc/os-release 2>/dev/null").await?;
    let arch = run("uname -m").await?;
    let systemd =
        run("cat /proc/1/comm 2>/dev/null; command -v systemctl >/dev/null && echo has-systemctl")
            .await?;
    let ports = run(LISTENING).await?;
    let addresses = run("ip -o addr show scope global 2>/dev/null").await?;
    let (probe_host, probe_port) = settings
        .outbound_probe
        .rsplit_once(':')
        .unwrap_or((settings.outbound_probe.as_str(), "25"));
    let probe = session
        .run(
            &format!("timeout 10 bash -c 'exec 3<>/dev/tcp/{}/{}; head -c 3 <&3' 2>&1; echo \" exit=$?\"", sanitize_host(probe_host), sanitize_port(probe_port)),
            b"",
            &mut |_, _| {},
        )
        .await?;
    let rdns = run("for ip in $(ip -o addr show scope global 2>/dev/null | awk '{print $4}' | cut -d/ -f1); do echo \"$ip $(getent hosts $ip | awk '{print $2}')\"; done").await?;
    let clock =
        run("timedatectl show -p NTPSynchronized --value 2>/dev/null || echo unknown").await?;
    let disk = run("df -Pk / /var 2>/dev/null | tail -n +2").await?;
    let memory = run("grep MemAvailable /proc/meminfo").await?;
    let relay = run(RELAY_PROBE).await?;
    Ok(vec![
        judge_os(&os.stdout),
        judge_arch(&arch.stdout),
        judge_systemd(&systemd.stdout),
        judge_ports(&ports.stdout),
        judge_addresses(&addresses.stdout),
        judge_outbound(&probe.stdout, &settings.outbound_probe),
        judge_rdns(&rdns.stdout, settings.mail_host.as_deref()),
        judge_clock(&clock.stdout),
        judge_disk(&disk.stdout),
        judge_memory(&memory.stdout),
        judge_relay(&relay.stdout),
    ])
}

/// The server's public addresses, from its interfaces.
pub async fn public_addresses<R: Remote>(session: &R) -> Result<Vec<IpAddr>, ssh::Error> {
    let output =
        session.run("ip -o addr show scope global 2>/dev/null", b"", &mut |_, _| {}).await?;
    Ok(parse_addresses(&output.stdout).into_iter().filter(|ip| is_public(*ip)).collect())
}

/// Every address in `ip -o addr` output.
fn parse_addresses(ip_output: &str) -> Vec<IpAddr> {
    ip_output
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let position = fields.iter().position(|field| *field == "inet" || *field == "inet6")?;
            fields.get(position + 1)?.split('/').next()?.parse().ok()
        })
        .collect()
}

/// Host names and addresses only: this goes into a shell command.
fn sanitize_host(host: &str) -> String {
    host.chars().filter(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(*c)).collect()
}

fn sanitize_port(port: &str) -> String {
    port.chars().filter(char::is_ascii_digit).collect()
}

fn os_field<'a>(os_release: &'a str, key: &str) -> Option<&'a str> {
    os_release
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{key}=")))
        .map(|value| value.trim_matches('"'))
}

/// Debian and Ubuntu are supported; other Linux distributions are warned about.
pub fn judge_os(os_release: &str) -> Check {
    let name = os_field(os_release, "PRETTY_NAME").map(str::to_string);
    match os_field(os_release, "ID") {
        Some("debian" | "ubuntu") => Check::new(Verdict::Pass, Finding::Os { name, tested: true }),
        Some(_) => Check::new(Verdict::Warn, Finding::Os { name, tested: false }),
        None => Check::new(Verdict::Fail, Finding::Os { name: None, tested: false }),
    }
}

pub fn judge_arch(uname: &str) -> Check {
    let machine = uname.trim().to_string();
    let verdict = if machine == "x86_64" { Verdict::Pass } else { Verdict::Fail };
    Check::new(verdict, Finding::Arch { machine })
}

pub fn judge_systemd(output: &str) -> Check {
    let running = output.lines().next() == Some("systemd");
    Check::new(if running { Verdict::Pass } else { Verdict::Fail }, Finding::Systemd { running })
}

/// What listens on the server's TCP ports, as `ss` shows it.
const LISTENING: &str = "ss -Hltnp 2>/dev/null || ss -Hltn";

/// The server's listening sockets (`ss` output, for [`busy_ports`]).
pub async fn listening<R: Remote>(session: &R) -> Result<String, ssh::Error> {
    Ok(session.run(LISTENING, b"", &mut |_, _| {}).await?.stdout)
}

pub fn judge_ports(ss_output: &str) -> Check {
    let busy = busy_ports(ss_output, &[25, 80, 443, 465, 587]);
    let verdict = if busy.is_empty() { Verdict::Pass } else { Verdict::Fail };
    Check::new(verdict, Finding::Ports { busy })
}

/// Which of `ports` another program than Outpost's relay listens on.
pub fn busy_ports(ss_output: &str, ports: &[u16]) -> Vec<BusyPort> {
    let mut busy: Vec<BusyPort> = Vec::new();
    for line in ss_output.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(local) = fields.get(3) else { continue };
        let Ok(port) = local.rsplit(':').next().unwrap_or("").parse::<u16>() else { continue };
        if ports.contains(&port) {
            let program = line
                .split("users:((\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .map(str::to_string);
            // Outpost's own relay on its own ports is no conflict: the install replaces it.
            if program.as_deref() == Some("outpost-relay") {
                continue;
            }
            let mail_server = program.as_deref().and_then(MailServer::from_process);
            let entry = BusyPort { port, program, mail_server };
            if !busy.contains(&entry) {
                busy.push(entry);
            }
        }
    }
    busy
}

pub fn judge_addresses(ip_output: &str) -> Check {
    let (public, private): (Vec<_>, Vec<_>) =
        parse_addresses(ip_output).into_iter().partition(|ip| is_public(*ip));
    let verdict = if public.is_empty() { Verdict::Fail } else { Verdict::Pass };
    Check::new(verdict, Finding::Addresses { public, private })
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || (v4.octets()[0] == 100 && v4.octets()[1] & 0xc0 == 64))
        }
        IpAddr::V6(v6) => !(v6.is_unique_local() || v6.is_loopback() || v6.is_unicast_link_local()),
    }
}

/// Reverse DNS: every public address named, and named the mail host once it is chosen (a PTR
/// naming the provider's default, `vps123.provider.net`, fails receivers' checks the same as
/// none).
pub fn judge_rdns(output: &str, mail_host: Option<&str>) -> Check {
    let mut names = Vec::new();
    for line in output.lines() {
        let mut fields = line.split_whitespace();
        let Some(Ok(ip)) = fields.next().map(str::parse::<IpAddr>) else { continue };
        if is_public(ip) {
            names.push(ReverseName { ip, name: fields.next().map(str::to_string) });
        }
    }
    let wanted = mail_host.map(|host| host.trim_end_matches('.').to_ascii_lowercase());
    let right = |name: &ReverseName| match (&name.name, &wanted) {
        (None, _) | (_, None) => false,
        (Some(name), Some(host)) => name.trim_end_matches('.').eq_ignore_ascii_case(host),
    };
    let all_right = !names.is_empty() && names.iter().all(right);
    let verdict = if all_right { Verdict::Pass } else { Verdict::Warn };
    Check::new(verdict, Finding::Rdns { names, mail_host: wanted })
}

pub fn judge_outbound(probe_output: &str, target: &str) -> Check {
    let reachable = probe_output.starts_with("220");
    let verdict = if reachable { Verdict::Pass } else { Verdict::Fail };
    Check::new(verdict, Finding::Outbound25 { target: target.to_string(), reachable })
}

pub fn judge_clock(output: &str) -> Check {
    let synchronised = match output.trim() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    };
    let verdict = if synchronised == Some(true) { Verdict::Pass } else { Verdict::Warn };
    Check::new(verdict, Finding::Clock { synchronised })
}

pub fn judge_disk(df_output: &str) -> Check {
    let free_mb = df_output
        .lines()
        .filter_map(|line| line.split_whitespace().nth(3)?.parse::<u64>().ok())
        .min()
        .map(|kib| kib / 1024);
    Check::new(disk_verdict(free_mb), Finding::Disk { free_mb })
}

/// Free disk space: 1 GiB is plenty for a relay's queue, under 200 MiB it may refuse mail.
pub fn disk_verdict(free_mb: Option<u64>) -> Verdict {
    match free_mb {
        Some(mb) if mb >= 1024 => Verdict::Pass,
        Some(mb) if mb < 200 => Verdict::Fail,
        _ => Verdict::Warn,
    }
}

/// Available memory: the relay needs little, but under 128 MiB a burst of logins may not fit.
pub fn memory_verdict(available_mb: Option<u64>) -> Verdict {
    match available_mb {
        Some(mb) if mb >= 128 => Verdict::Pass,
        _ => Verdict::Warn,
    }
}

/// Prints the installed relay's `--version` line and its service state, or nothing.
const RELAY_PROBE: &str = "test -x /usr/local/bin/outpost-relay && { /usr/local/bin/outpost-relay --version; systemctl is-active outpost-relay; } 2>/dev/null; true";

/// An earlier install's relay: not there (fine), running (fine), or stopped (worth a look: no
/// mail goes out while it is).
pub fn judge_relay(output: &str) -> Check {
    let mut lines = output.lines().map(str::trim);
    let version =
        lines.next().and_then(|line| line.strip_prefix("outpost-relay ")).map(str::to_string);
    let running = version.is_some() && lines.next() == Some("active");
    let verdict = if version.is_some() && !running { Verdict::Warn } else { Verdict::Pass };
    Check::new(verdict, Finding::Relay { version, running })
}

pub fn judge_memory(meminfo: &str) -> Check {
    let available_mb = meminfo
        .split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse::<u64>().ok())
        .map(|kib| kib / 1024);
    Check::new(memory_verdict(available_mb), Finding::Memory { available_mb })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_dns_is_reported_per_public_address() {
        let check = judge_rdns(
            "198.51.100.10 mail.example.test\n2001:db8:100::10 \n10.0.0.5 \n",
            Some("mail.example.test"),
        );
        assert_eq!(check.verdict, Verdict::Warn);
        let name = |ip: &str, name: Option<&str>| ReverseName {
            ip: ip.parse().unwrap(),
            name: name.map(str::to_string),
        };
        assert_eq!(
            check.found,
            Finding::Rdns {
                names: vec![
                    name("198.51.100.10", Some("mail.example.test")),
                    name("2001:db8:100::10", None)
                ],
                mail_host: Some("mail.example.test".into()),
            }
        );
        let check = judge_rdns("198.51.100.10 mail.example.test.\n", Some("Mail.Example.test"));
        assert_eq!(check.verdict, Verdict::Pass);
    }

    #[test]
    fn reverse_dns_must_name_the_chosen_mail_host_not_the_providers_default() {
        // What the box's vps has, and what many providers set: a name, but not the mail host.
        let check = judge_rdns("198.51.100.10 vps.inbox.test\n", Some("mail.example.test"));
        assert_eq!(check.verdict, Verdict::Warn);
        // Before the domain is chosen there is nothing to compare with: not a pass.
        let check = judge_rdns("198.51.100.10 vps.inbox.test\n", None);
        assert_eq!(check.verdict, Verdict::Warn);
        assert!(matches!(check.found, Finding::Rdns { mail_host: None, .. }));
    }

    #[test]
    fn supported_systems_pass_and_others_are_explained() {
        assert_eq!(
            judge_os("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n").verdict,
            Verdict::Pass
        );
        assert_eq!(
            judge_os("PRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\nID=ubuntu\n").verdict,
            Verdict::Pass
        );
        let rocky = judge_os("PRETTY_NAME=\"Rocky Linux 9\"\nID=\"rocky\"\n");
        assert_eq!(
            (rocky.verdict, rocky.found),
            (Verdict::Warn, Finding::Os { name: Some("Rocky Linux 9".into()), tested: false })
        );
        assert_eq!(judge_os("").verdict, Verdict::Fail);
        assert_eq!(judge_arch("aarch64\n").verdict, Verdict::Fail);
        assert_eq!(judge_arch("aarch64").found, Finding::Arch { machine: "aarch64".into() });
    }

    #[test]
    fn a_preinstalled_mail_server_is_named() {
        let ss = "LISTEN 0 100 0.0.0.0:25 0.0.0.0:* users:((\"master\",pid=812,fd=13))\n\
                  LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:((\"sshd\",pid=700,fd=3))\n";
        let check = judge_ports(ss);
        assert_eq!(check.verdict, Verdict::Fail);
        assert_eq!(
            check.found,
            Finding::Ports {
                busy: vec![BusyPort {
                    port: 25,
                    program: Some("master".into()),
                    mail_server: Some(MailServer::Postfix)
                }]
            }
        );
        assert_eq!(
            judge_ports("LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:((\"sshd\",pid=1,fd=3))\n")
                .verdict,
            Verdict::Pass
        );
    }

    #[test]
    fn nat_is_detected() {
        let public = "2: eth0    inet 203.0.113.10/24 brd 203.0.113.255 scope global eth0\n2: eth0    inet6 2001:db8::10/64 scope global\n";
        let check = judge_addresses(public);
        assert_eq!(check.verdict, Verdict::Pass);
        let Finding::Addresses { public, .. } = check.found else { panic!() };
        assert_eq!(public.len(), 2);
        let nat = judge_addresses("2: eth0    inet 10.0.0.5/24 scope global eth0\n");
        assert_eq!(nat.verdict, Verdict::Fail);
        assert!(
            matches!(nat.found, Finding::Addresses { public, private } if public.is_empty() && private.len() == 1)
        );
    }

    #[test]
    fn a_blocked_port_25_points_to_the_ticket() {
        assert_eq!(judge_outbound("220 exit=0", "mx:25").verdict, Verdict::Pass);
        let blocked = judge_outbound("bash: connect: Connection timed out exit=124", "mx:25");
        assert_eq!(blocked.verdict, Verdict::Fail);
        assert_eq!(blocked.found, Finding::Outbound25 { target: "mx:25".into(), reachable: false });
    }

    #[test]
    fn disk_memory_and_clock_have_sensible_thresholds() {
        assert_eq!(judge_disk("/dev/vda1 20000000 1000000 19000000 5% /\n").verdict, Verdict::Pass);
        assert_eq!(judge_disk("/dev/vda1 20000000 1000000 300000 5% /\n").verdict, Verdict::Warn);
        assert_eq!(judge_disk("/dev/vda1 20000000 1000000 100000 5% /\n").verdict, Verdict::Fail);
        assert_eq!(judge_memory("MemAvailable:    512000 kB").verdict, Verdict::Pass);
        assert_eq!(judge_clock("no").verdict, Verdict::Warn);
        assert_eq!(judge_clock("yes\n").verdict, Verdict::Pass);
    }

    #[test]
    fn an_installed_relay_is_recognised_running_or_not() {
        assert_eq!(judge_relay("").found, Finding::Relay { version: None, running: false });
        assert_eq!(judge_relay("").verdict, Verdict::Pass, "not installed yet is fine");
        let running = judge_relay("outpost-relay 0.1.0\nactive\n");
        assert_eq!(
            (running.verdict, running.found),
            (Verdict::Pass, Finding::Relay { version: Some("0.1.0".into()), running: true })
        );
        let stopped = judge_relay("outpost-relay 0.1.0\ninactive\n");
        assert_eq!(stopped.verdict, Verdict::Warn);
        // Its own ports are not a conflict.
        let ss = "LISTEN 0 1024 0.0.0.0:587 0.0.0.0:* users:((\"outpost-relay\",pid=9,fd=7))\n";
        assert_eq!(judge_ports(ss).verdict, Verdict::Pass);
    }

    #[test]
    fn probe_targets_cannot_inject_shell() {
        assert_eq!(sanitize_host("mx.gmail.test; rm -rf /"), "mx.gmail.testrm-rf");
        assert_eq!(sanitize_port("25$(reboot)"), "25");
    }
}
