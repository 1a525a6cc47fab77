//! Server checks: can this server send mail? Each check runs small, read-only commands over SSH
//! and says pass, warn or fail, with what to do in plain words.
//!
//! The commands only read (`/etc/os-release`, `uname`, `ss`, `ip`, `df`, …); nothing is changed.
//! Interpreting their output is separate from running them (`judge_*` functions), so the rules
//! are tested without a server and the whole set is tested against the test bed's vps.

use serde::Serialize;

use crate::ssh::{self, Session};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Fine.
    Pass,
    /// Works, but worth attention.
    Warn,
    /// Must be fixed before installing.
    Fail,
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable id, e.g. `os`, `ports`.
    pub id: &'static str,
    /// The outcome.
    pub verdict: Verdict,
    /// What was found, in plain words.
    pub found: String,
    /// What to do (empty when nothing is needed).
    pub fix: String,
}

impl Check {
    fn new(
        id: &'static str,
        verdict: Verdict,
        found: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check { id, verdict, found: found.into(), fix: fix.into() }
    }
}

/// Settings of the checks.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The mail server the outbound port-25 probe connects to: `host:port`. On the internet a
    /// well-known MX; tests point it into their own network.
    pub outbound_probe: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { outbound_probe: "gmail-smtp-in.l.google.com:25".into() }
    }
}

/// Runs every check.
pub async fn run_all(session: &Session, settings: &Settings) -> Result<Vec<Check>, ssh::Error> {
    let run =
        |command: &'static str| async move { session.run(command, b"", &mut |_, _| {}).await };
    let os = run("cat /etc/os-release 2>/dev/null").await?;
    let arch = run("uname -m").await?;
    let systemd =
        run("cat /proc/1/comm 2>/dev/null; command -v systemctl >/dev/null && echo has-systemctl")
            .await?;
    let ports = run("ss -Hltnp 2>/dev/null || ss -Hltn").await?;
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
    Ok(vec![
        judge_os(&os.stdout),
        judge_arch(&arch.stdout),
        judge_systemd(&systemd.stdout),
        judge_ports(&ports.stdout),
        judge_addresses(&addresses.stdout),
        judge_outbound(&probe.stdout, &settings.outbound_probe),
        judge_rdns(&rdns.stdout),
        judge_clock(&clock.stdout),
        judge_disk(&disk.stdout),
        judge_memory(&memory.stdout),
    ])
}

/// The server's public addresses, from its interfaces.
pub async fn public_addresses(session: &Session) -> Result<Vec<std::net::IpAddr>, ssh::Error> {
    let output =
        session.run("ip -o addr show scope global 2>/dev/null", b"", &mut |_, _| {}).await?;
    Ok(parse_addresses(&output.stdout).into_iter().filter(|ip| is_public(*ip)).collect())
}

/// Every address in `ip -o addr` output.
fn parse_addresses(ip_output: &str) -> Vec<std::net::IpAddr> {
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
    let name = os_field(os_release, "PRETTY_NAME").unwrap_or("an unknown system");
    match os_field(os_release, "ID") {
        Some("debian" | "ubuntu") => Check::new("os", Verdict::Pass, name, ""),
        Some(_) => Check::new(
            "os",
            Verdict::Warn,
            name,
            "Outpost is tested on Debian and Ubuntu. It will probably work here, but if something fails, a Debian 12 or Ubuntu 22.04+ server is the sure choice.",
        ),
        None => Check::new(
            "os",
            Verdict::Fail,
            "the operating system could not be identified",
            "Choose Debian 12 or Ubuntu 22.04 or newer when you (re)install the server in your provider's panel.",
        ),
    }
}

/// The carried relay is an x86_64 program.
pub fn judge_arch(uname: &str) -> Check {
    match uname.trim() {
        "x86_64" => Check::new("arch", Verdict::Pass, "x86_64 (64-bit Intel/AMD)", ""),
        other => Check::new(
            "arch",
            Verdict::Fail,
            format!("{other} processor"),
            "Outpost's relay runs on x86_64 servers for now. Pick an Intel or AMD (x86_64) plan at your provider; ARM support is planned.",
        ),
    }
}

/// The relay runs as a systemd service.
pub fn judge_systemd(output: &str) -> Check {
    if output.lines().next() == Some("systemd") {
        Check::new("systemd", Verdict::Pass, "systemd is running", "")
    } else {
        Check::new(
            "systemd",
            Verdict::Fail,
            "systemd is not the init system",
            "Outpost runs the relay as a systemd service. Use a standard Debian or Ubuntu image from your provider (not a container-only plan).",
        )
    }
}

/// Ports 25, 80, 465 and 587 must be free; what holds them is named.
pub fn judge_ports(ss_output: &str) -> Check {
    let mut busy = Vec::new();
    for line in ss_output.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(local) = fields.get(3) else { continue };
        let port = local.rsplit(':').next().unwrap_or("");
        if ["25", "80", "465", "587"].contains(&port) {
            let program = line
                .split("users:((\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or("another program");
            // `ss` names processes; people know the mail servers by their product names.
            let program = match program {
                "master" | "postfix" | "smtpd" => "Postfix",
                "exim" | "exim4" => "Exim",
                "sendmail" => "Sendmail",
                "smtpd-opensmtpd" => "OpenSMTPD",
                other => other,
            };
            let entry = format!("port {port} is used by {program}");
            if !busy.contains(&entry) {
                busy.push(entry);
            }
        }
    }
    if busy.is_empty() {
        return Check::new("ports", Verdict::Pass, "ports 25, 80, 465 and 587 are free", "");
    }
    let mail_server = busy.iter().any(|entry| {
        ["Postfix", "Exim", "Sendmail", "OpenSMTPD", "chasquid"]
            .iter()
            .any(|name| entry.ends_with(name))
    });
    let fix = if mail_server {
        "Another mail server is running (often preinstalled by the provider). Outpost can stop and disable it for you; its settings are kept."
    } else {
        "Stop the program that uses these ports, or choose a fresh server."
    };
    Check::new("ports", Verdict::Fail, busy.join("; "), fix)
}

/// The server's public addresses (from its interfaces); a private one means NAT.
pub fn judge_addresses(ip_output: &str) -> Check {
    let (public, private): (Vec<_>, Vec<_>) =
        parse_addresses(ip_output).into_iter().partition(|ip| is_public(*ip));
    let list = |ips: &[std::net::IpAddr]| {
        ips.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    };
    match (public.is_empty(), private.is_empty()) {
        (false, _) => Check::new(
            "addresses",
            Verdict::Pass,
            format!("public addresses: {}", list(&public)),
            "",
        ),
        (true, false) => Check::new(
            "addresses",
            Verdict::Fail,
            format!("only private addresses ({}): the server is behind NAT", list(&private)),
            "A mail server needs its own public IP address. Choose a VPS plan with a public IPv4 address.",
        ),
        (true, true) => Check::new(
            "addresses",
            Verdict::Fail,
            "no network address was found",
            "Check the server's network settings in your provider's panel.",
        ),
    }
}

/// Whether an address is one the internet can reach (not private, loopback or link-local).
fn is_public(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || (v4.octets()[0] == 100 && v4.octets()[1] & 0xc0 == 64))
        }
        std::net::IpAddr::V6(v6) => {
            !(v6.is_unique_local() || v6.is_loopback() || v6.is_unicast_link_local())
        }
    }
}

/// The current reverse DNS of each public address (`<ip> <name or nothing>` per line). Not
/// having one yet is normal before setup: the DNS step says exactly what to set.
pub fn judge_rdns(output: &str) -> Check {
    let mut named = Vec::new();
    let mut unnamed = Vec::new();
    for line in output.lines() {
        let mut fields = line.split_whitespace();
        let Some(Ok(ip)) = fields.next().map(str::parse::<std::net::IpAddr>) else { continue };
        if !is_public(ip) {
            continue;
        }
        match fields.next() {
            Some(name) => named.push(format!("{ip} is {name}")),
            None => unnamed.push(ip.to_string()),
        }
    }
    if unnamed.is_empty() && !named.is_empty() {
        return Check::new("rdns", Verdict::Pass, format!("reverse DNS: {}", named.join("; ")), "");
    }
    let mut found = Vec::new();
    if !unnamed.is_empty() {
        found.push(format!("no reverse DNS yet for {}", unnamed.join(", ")));
    }
    found.extend(named);
    Check::new(
        "rdns",
        Verdict::Warn,
        found.join("; "),
        "Normal for a new server. Later, the DNS step shows the name to set in your provider's panel; receivers distrust mail from addresses without it.",
    )
}

/// Whether mail can leave on port 25 (many providers block it).
pub fn judge_outbound(probe_output: &str, target: &str) -> Check {
    if probe_output.starts_with("220") {
        Check::new(
            "outbound25",
            Verdict::Pass,
            format!("the server can reach {target} on port 25"),
            "",
        )
    } else {
        Check::new(
            "outbound25",
            Verdict::Fail,
            format!("the server cannot send mail out on port 25 ({target} did not answer)"),
            "Your provider blocks outgoing port 25. Most open it on request: Outpost can write the support ticket for you (step 2).",
        )
    }
}

/// Clocks must be right for TLS and DKIM timestamps.
pub fn judge_clock(output: &str) -> Check {
    match output.trim() {
        "yes" => Check::new("clock", Verdict::Pass, "the clock is synchronised", ""),
        "no" => Check::new(
            "clock",
            Verdict::Warn,
            "the clock is not synchronised",
            "Turn on time synchronisation: Outpost can enable systemd-timesyncd during the install.",
        ),
        _ => Check::new(
            "clock",
            Verdict::Warn,
            "clock synchronisation could not be checked",
            "Make sure the server's time is right; certificates and signatures depend on it.",
        ),
    }
}

/// The queue needs some room on disk.
pub fn judge_disk(df_output: &str) -> Check {
    let free_mb = df_output
        .lines()
        .filter_map(|line| line.split_whitespace().nth(3)?.parse::<u64>().ok())
        .min()
        .map(|kib| kib / 1024);
    match free_mb {
        Some(mb) if mb >= 1024 => Check::new("disk", Verdict::Pass, format!("{mb} MB free"), ""),
        Some(mb) if mb >= 200 => Check::new(
            "disk",
            Verdict::Warn,
            format!("only {mb} MB free"),
            "Mail waits on disk when recipients are slow; free some space or choose a plan with more disk.",
        ),
        Some(mb) => Check::new(
            "disk",
            Verdict::Fail,
            format!("only {mb} MB free"),
            "Free at least 200 MB on the server before installing.",
        ),
        None => Check::new("disk", Verdict::Warn, "free disk space could not be read", ""),
    }
}

/// The relay needs little memory, but not none.
pub fn judge_memory(meminfo: &str) -> Check {
    let available_mb = meminfo
        .split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse::<u64>().ok())
        .map(|kib| kib / 1024);
    match available_mb {
        Some(mb) if mb >= 128 => {
            Check::new("memory", Verdict::Pass, format!("{mb} MB available"), "")
        }
        Some(mb) => Check::new(
            "memory",
            Verdict::Warn,
            format!("only {mb} MB available"),
            "The relay needs about 10 MB, but the server is nearly out of memory; stop unused programs.",
        ),
        None => Check::new("memory", Verdict::Warn, "available memory could not be read", ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_dns_is_reported_per_public_address() {
        let check = judge_rdns("198.51.100.10 mail.example.test\n2001:db8:100::10 \n10.0.0.5 \n");
        assert_eq!(check.verdict, Verdict::Warn);
        assert_eq!(
            check.found,
            "no reverse DNS yet for 2001:db8:100::10; 198.51.100.10 is mail.example.test"
        );
        let check = judge_rdns("198.51.100.10 mail.example.test\n");
        assert_eq!(check.verdict, Verdict::Pass);
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
        assert_eq!((rocky.verdict, rocky.found.as_str()), (Verdict::Warn, "Rocky Linux 9"));
        assert_eq!(judge_os("").verdict, Verdict::Fail);
        assert_eq!(judge_arch("aarch64\n").verdict, Verdict::Fail);
        assert!(judge_arch("aarch64").fix.contains("x86_64"));
    }

    #[test]
    fn a_preinstalled_mail_server_is_named() {
        let ss = "LISTEN 0 100 0.0.0.0:25 0.0.0.0:* users:((\"master\",pid=812,fd=13))\n\
                  LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:((\"sshd\",pid=700,fd=3))\n";
        let check = judge_ports(ss);
        assert_eq!(check.verdict, Verdict::Fail);
        assert_eq!(check.found, "port 25 is used by Postfix");
        assert!(check.fix.contains("Another mail server"));
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
        assert!(check.found.contains("203.0.113.10") && check.found.contains("2001:db8::10"));
        let nat = judge_addresses("2: eth0    inet 10.0.0.5/24 scope global eth0\n");
        assert_eq!(nat.verdict, Verdict::Fail);
        assert!(nat.found.contains("behind NAT"));
    }

    #[test]
    fn a_blocked_port_25_points_to_the_ticket() {
        assert_eq!(judge_outbound("220 exit=0", "mx:25").verdict, Verdict::Pass);
        let blocked = judge_outbound("bash: connect: Connection timed out exit=124", "mx:25");
        assert_eq!(blocked.verdict, Verdict::Fail);
        assert!(blocked.fix.contains("support ticket"));
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
    fn probe_targets_cannot_inject_shell() {
        assert_eq!(sanitize_host("mx.gmail.test; rm -rf /"), "mx.gmail.testrm-rf");
        assert_eq!(sanitize_port("25$(reboot)"), "25");
    }
}
