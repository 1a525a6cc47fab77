//! Proof that the box is sealed: a packet capture on this machine's real uplink for the whole
//! run, which must see nothing from or to the box's addresses and no DNS query for its names.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

/// A running `tcpdump` on the interface that holds the default route.
#[derive(Debug)]
pub struct Capture {
    child: Option<Child>,
    file: PathBuf,
    interface: String,
}

/// What gives a packet away as the box's: its addresses, or a lookup of one of its names.
const BOX_MARKS: [&str; 6] =
    ["198.51.100.", "2001:db8:", ".test.", ".test ", "100.51.198.in-addr", "ip6.arpa"];

impl Capture {
    /// Starts capturing on the uplink; an error (no tcpdump) is reported when the result is used.
    pub fn start() -> Result<Capture> {
        let routes = Command::new("ip").args(["-4", "route", "show", "default"]).output()?;
        let routes = String::from_utf8_lossy(&routes.stdout);
        let interface = routes
            .split_whitespace()
            .skip_while(|word| *word != "dev")
            .nth(1)
            .map(str::to_string)
            .unwrap_or_default();
        let file = std::env::temp_dir().join(format!("outpost-uplink-{}.pcap", std::process::id()));
        if interface.is_empty() {
            // No uplink at all: nothing can leave, and there is nothing to watch.
            return Ok(Capture { child: None, file, interface });
        }
        Capture::start_on(&interface, file)
    }

    /// Starts capturing on `interface` into `file`.
    pub fn start_on(interface: &str, file: PathBuf) -> Result<Capture> {
        let interface = interface.to_string();
        let filter = "net 198.51.100.0/24 or net 2001:db8::/32 or port 53";
        let mut child = Command::new("tcpdump")
            .args(["-i", &interface, "-n", "-U", "--immediate-mode", "-w"])
            .arg(&file)
            .arg(filter)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting tcpdump (apt-get install tcpdump)")?;
        // tcpdump writes the file header once it is listening.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !file.exists() {
            if let Some(status) = child.try_wait()? {
                bail!("tcpdump on {interface} exited at once ({status})");
            }
            ensure!(Instant::now() < deadline, "tcpdump on {interface} did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
        Ok(Capture { child: Some(child), file, interface })
    }

    /// Stops the capture and fails if any packet of the box went through the uplink.
    pub fn finish(self) -> Result<()> {
        if self.child.is_none() {
            eprintln!("no default route on this machine: nothing can leave the box");
            return Ok(());
        }
        let interface = self.interface.clone();
        let leaks = self.stop()?;
        ensure!(leaks.is_empty(), "packets of the box crossed {interface}:\n{}", leaks.join("\n"));
        Ok(())
    }

    /// Stops the capture and returns the lines of the packets that belong to the box.
    pub fn stop(mut self) -> Result<Vec<String>> {
        let Some(mut child) = self.child.take() else { return Ok(Vec::new()) };
        // Packets are handed over at once (--immediate-mode) and written at once (-U); a TERM
        // then lets tcpdump drain what the kernel still holds before it exits.
        std::thread::sleep(Duration::from_millis(100));
        let terminated = Command::new("kill").args(["-TERM", &child.id().to_string()]).status()?;
        if !terminated.success() {
            child.kill()?;
        }
        child.wait()?;
        let read = Command::new("tcpdump").args(["-n", "-r"]).arg(&self.file).output()?;
        let _ = std::fs::remove_file(&self.file);
        let text = String::from_utf8_lossy(&read.stdout);
        Ok(text
            .lines()
            .filter(|line| BOX_MARKS.iter().any(|mark| line.contains(mark)))
            .map(str::to_string)
            .collect())
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
