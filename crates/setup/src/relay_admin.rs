//! The installed relay's admin commands, typed: one method per `outpost-relay … --json` command,
//! run over SSH, its reply read as the `outpost-relay-api` type the relay wrote it from.
//!
//! This is the only place that builds an admin command line (every argument quoted, positional
//! ones after `--`) and the only place that reads one's output. A reply from a relay older than
//! the protocol this app needs is [`Error::UpgradeNeeded`], never a parse failure.

use outpost_relay_api::{self as api, Header, Reply, Response};
use serde::de::DeserializeOwned;

use crate::remote::Remote;
use crate::ssh::{self, quote};

/// Where the relay's executable is on the server (DESIGN.md §4).
pub const BINARY: &str = "/usr/local/bin/outpost-relay";
/// Its config file.
pub const CONFIG: &str = "/etc/outpost/relay.toml";

/// The oldest admin protocol this app can work with.
pub const MIN_API: u32 = 1;

/// Why an admin command gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SSH failed.
    #[error(transparent)]
    Ssh(#[from] ssh::Error),
    /// The relay answered with an error of its own.
    #[error("outpost-relay {command}: {}", error.message)]
    Relay {
        /// The command (`status`, `user add`, …).
        command: &'static str,
        /// What the relay said.
        error: api::AdminError,
    },
    /// The relay on the server speaks an older protocol than this app needs.
    #[error(
        "the relay on the server (admin protocol {relay}) is older than this app needs ({needed}): install again to upgrade it"
    )]
    UpgradeNeeded {
        /// The relay's protocol version (0: from before versions).
        relay: u32,
        /// The oldest this app accepts.
        needed: u32,
    },
    /// The command printed no reply at all (the relay is not installed, say).
    #[error("outpost-relay {command} failed: {detail}")]
    NoReply {
        /// The command.
        command: &'static str,
        /// What the shell said (standard error, or the exit status).
        detail: String,
    },
    /// The reply was not the type this command returns.
    #[error("outpost-relay {command} replied in a form this app does not understand: {detail}")]
    Unreadable {
        /// The command.
        command: &'static str,
        /// The parser's words.
        detail: String,
    },
}

/// The installed relay's admin commands.
#[derive(Debug)]
pub struct RelayAdmin<'a, R> {
    remote: &'a R,
}

impl<'a, R: Remote> RelayAdmin<'a, R> {
    /// The relay installed on `remote`.
    pub fn new(remote: &'a R) -> Self {
        RelayAdmin { remote }
    }

    /// `status`: what the running relay is doing. A relay that is installed but stopped is
    /// `Ok` with `running: false` once it has ever run; before that it is an error of kind
    /// `not-running`.
    pub async fn status(&self) -> Result<api::Status, Error> {
        self.call("status", &["status"], &[], b"").await
    }

    /// `dkim show`: the DNS record of every configured key.
    pub async fn dkim_records(&self) -> Result<Vec<api::DkimRecord>, Error> {
        let shown: api::DkimRecords = self.call("dkim show", &["dkim", "show"], &[], b"").await?;
        Ok(shown.records)
    }

    /// `dkim generate`: a new key at `key_file` (never overwriting one) and its record.
    pub async fn dkim_generate(
        &self,
        domain: &str,
        selector: &str,
        algorithm: api::DkimAlgorithm,
        key_file: &str,
    ) -> Result<api::DkimRecord, Error> {
        let options = [
            "--domain",
            domain,
            "--selector",
            selector,
            "--algorithm",
            algorithm.cli_name(),
            "--key-file",
            key_file,
        ];
        self.call("dkim generate", &["dkim", "generate"], &options, b"").await
    }

    /// `user list`.
    pub async fn users(&self) -> Result<api::UserList, Error> {
        self.call("user list", &["user", "list"], &[], b"").await
    }

    /// `user add`: adds `address` or changes its password; checks that the relay did exactly
    /// that.
    pub async fn add_user(&self, address: &str, password: &str) -> Result<api::UserChange, Error> {
        let stdin = format!("{password}\n");
        let change: api::UserChange =
            self.call("user add", &["user", "add", "--", address], &[], stdin.as_bytes()).await?;
        let allowed = [api::UserAction::Added, api::UserAction::PasswordChanged];
        self.confirm("user add", &change, (&change.user, &change.action), address, &allowed)?;
        Ok(change)
    }

    /// `user remove`.
    pub async fn remove_user(&self, address: &str) -> Result<api::UserChange, Error> {
        let change: api::UserChange =
            self.call("user remove", &["user", "remove", "--", address], &[], b"").await?;
        let removed = [api::UserAction::Removed];
        self.confirm("user remove", &change, (&change.user, &change.action), address, &removed)?;
        Ok(change)
    }

    /// `user senders`: replaces the addresses at the relay's other domains `address` may also
    /// send as (none clears them); checks the relay kept exactly those.
    pub async fn set_senders(
        &self,
        address: &str,
        senders: &[String],
    ) -> Result<api::UserSenders, Error> {
        let mut args = vec!["user", "senders", "--", address];
        args.extend(senders.iter().map(String::as_str));
        let kept: api::UserSenders = self.call("user senders", &args, &[], b"").await?;
        let wanted: Vec<String> = senders.iter().map(|s| s.trim().to_ascii_lowercase()).collect();
        let same_user = kept.user.eq_ignore_ascii_case(address.trim());
        let same_senders = kept.senders.iter().all(|sender| wanted.contains(sender))
            && wanted.iter().all(|sender| kept.senders.contains(sender));
        if !same_user || !same_senders {
            return Err(Error::Unreadable {
                command: "user senders",
                detail: format!("asked for {wanted:?} for {address}, the relay kept {kept:?}"),
            });
        }
        Ok(kept)
    }

    /// `alias list`.
    pub async fn aliases(&self) -> Result<api::AliasList, Error> {
        self.call("alias list", &["alias", "list"], &[], b"").await
    }

    /// `alias add`: forwards `address` to `destinations` (replacing any it had).
    pub async fn add_alias(
        &self,
        address: &str,
        destinations: &[String],
    ) -> Result<api::AliasChange, Error> {
        let mut arguments = vec!["alias", "add", "--", address];
        arguments.extend(destinations.iter().map(String::as_str));
        let change: api::AliasChange = self.call("alias add", &arguments, &[], b"").await?;
        let allowed = [api::AliasAction::Added, api::AliasAction::Changed];
        self.confirm("alias add", &change, (&change.address, &change.action), address, &allowed)?;
        Ok(change)
    }

    /// `alias remove`.
    pub async fn remove_alias(&self, address: &str) -> Result<api::AliasChange, Error> {
        let change: api::AliasChange =
            self.call("alias remove", &["alias", "remove", "--", address], &[], b"").await?;
        let removed = [api::AliasAction::Removed];
        self.confirm(
            "alias remove",
            &change,
            (&change.address, &change.action),
            address,
            &removed,
        )?;
        Ok(change)
    }

    /// `check-config`: whether `path` is a config the relay would start with.
    pub async fn check_config(&self, path: &str) -> Result<api::ConfigCheck, Error> {
        let line = command_line(&["check-config", "--", path], &[], None);
        self.run("check-config", &line, b"").await
    }

    /// `lookup`: `names` asked of the server's own resolver.
    pub async fn lookup(&self, names: &[String]) -> Result<Vec<api::Lookup>, Error> {
        let mut arguments = vec!["lookup", "--"];
        arguments.extend(names.iter().map(String::as_str));
        let lookups: api::Lookups =
            self.run("lookup", &command_line(&arguments, &[], None), b"").await?;
        Ok(lookups.results)
    }

    /// `queue list`.
    pub async fn queue(&self) -> Result<Vec<api::QueueItem>, Error> {
        let list: api::QueueList = self.call("queue list", &["queue", "list"], &[], b"").await?;
        Ok(list.items)
    }

    /// `queue show`.
    pub async fn queue_item(&self, id: &str) -> Result<api::QueueItem, Error> {
        self.call("queue show", &["queue", "show", "--", id], &[], b"").await
    }

    /// `queue retry`.
    pub async fn retry(&self, id: &str) -> Result<api::QueueRetry, Error> {
        self.call("queue retry", &["queue", "retry", "--", id], &[], b"").await
    }

    /// `queue delete`: the message leaves the queue undelivered.
    pub async fn delete(&self, id: &str) -> Result<api::QueueDeleted, Error> {
        self.call("queue delete", &["queue", "delete", "--", id], &[], b"").await
    }

    /// `health`: the dashboard's one call — status, queue, disk and memory, the port-25 probe
    /// to `probe` (`host:port`), and `names` looked up through the server's resolver.
    pub async fn health(&self, probe: &str, names: &[String]) -> Result<api::Health, Error> {
        let mut arguments = vec!["health", "--"];
        arguments.extend(names.iter().map(String::as_str));
        self.call("health", &arguments, &["--probe", probe], b"").await
    }

    /// `trace watch`: the relay keeps the next message submitted with `message_id`.
    pub async fn trace_watch(&self, message_id: &str) -> Result<api::TraceWatch, Error> {
        self.call("trace watch", &["trace", "watch", "--", message_id], &[], b"").await
    }

    /// `trace show`: the watched message as signed and sent, with its delivery records.
    pub async fn trace_show(&self, message_id: &str) -> Result<api::Trace, Error> {
        self.call("trace show", &["trace", "show", "--", message_id], &[], b"").await
    }

    /// `cert renew --now`: the relay asks its CA for a new certificate; `status` follows it.
    pub async fn cert_renew(&self) -> Result<api::CertRenewal, Error> {
        self.call("cert renew", &["cert", "renew", "--now"], &[], b"").await
    }

    /// A relay's answer must be about the address asked and say it did what was asked: a
    /// command line that went wrong (an address read as an option, say) cannot pass for success.
    /// The relay's answer is about what was asked: the `change` it reports is to `address`
    /// (`changed`: the address it names) and one of the `allowed` actions.
    fn confirm<C: std::fmt::Debug, A: PartialEq>(
        &self,
        command: &'static str,
        change: &C,
        (changed, action): (&str, &A),
        address: &str,
        allowed: &[A],
    ) -> Result<(), Error> {
        if changed.eq_ignore_ascii_case(address) && allowed.contains(action) {
            Ok(())
        } else {
            Err(Error::Unreadable {
                command,
                detail: format!("asked about {address}, the relay answered {change:?}"),
            })
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        command: &'static str,
        arguments: &[&str],
        options: &[&str],
        stdin: &[u8],
    ) -> Result<T, Error> {
        self.run(command, &command_line(arguments, options, Some(CONFIG)), stdin).await
    }

    async fn run<T: DeserializeOwned>(
        &self,
        command: &'static str,
        line: &str,
        stdin: &[u8],
    ) -> Result<T, Error> {
        let output = self.remote.run(line, stdin, &mut |_, _| {}).await?;
        read_reply(command, &output)
    }
}

/// `outpost-relay <arguments before --> <options> --json [--config <config>] -- <the rest>`:
/// every word quoted, and nothing after `--` ever read as an option.
pub fn command_line(arguments: &[&str], options: &[&str], config: Option<&str>) -> String {
    let split = arguments.iter().position(|argument| *argument == "--").unwrap_or(arguments.len());
    let (head, tail) = arguments.split_at(split);
    let mut words: Vec<String> = vec![BINARY.to_string()];
    words.extend(head.iter().chain(options).map(|word| quote(word)));
    words.push("--json".into());
    if let Some(config) = config {
        words.push("--config".into());
        words.push(quote(config));
    }
    if let Some((dash, rest)) = tail.split_first() {
        words.push((*dash).to_string());
        words.extend(rest.iter().map(|word| quote(word)));
    }
    words.join(" ")
}

/// Reads an admin reply: the version first, then the typed data or the relay's error.
pub fn read_reply<T: DeserializeOwned>(
    command: &'static str,
    output: &ssh::Output,
) -> Result<T, Error> {
    let text = output.stdout.trim();
    let no_reply = || Error::NoReply {
        command,
        detail: match (output.stderr.trim(), output.status) {
            ("", Some(status)) => format!("exit status {status}"),
            ("", None) => "killed".into(),
            (stderr, _) => stderr.to_string(),
        },
    };
    if text.is_empty() {
        return Err(no_reply());
    }
    let header: Header = match serde_json::from_str(text) {
        Ok(header) => header,
        Err(_) if output.status != Some(0) => return Err(no_reply()),
        Err(error) => return Err(Error::Unreadable { command, detail: error.to_string() }),
    };
    if header.api < MIN_API {
        return Err(Error::UpgradeNeeded { relay: header.api, needed: MIN_API });
    }
    let response: Response<T> = serde_json::from_str(text)
        .map_err(|error| Error::Unreadable { command, detail: error.to_string() })?;
    match response.reply {
        Reply::Ok(data) => Ok(data),
        Reply::Error(error) => Err(Error::Relay { command, error }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::fake::FakeServer;

    fn output(status: u32, stdout: &str) -> ssh::Output {
        ssh::Output { status: Some(status), stdout: stdout.into(), stderr: String::new() }
    }

    #[test]
    fn positional_arguments_come_after_the_options_and_a_double_dash() {
        assert_eq!(
            command_line(&["user", "add", "--", "-h@example.com"], &[], Some(CONFIG)),
            "/usr/local/bin/outpost-relay 'user' 'add' --json --config '/etc/outpost/relay.toml' -- '-h@example.com'"
        );
        assert_eq!(
            command_line(&["status"], &[], Some(CONFIG)),
            "/usr/local/bin/outpost-relay 'status' --json --config '/etc/outpost/relay.toml'"
        );
    }

    #[test]
    fn a_relay_from_before_the_protocol_needs_an_upgrade() {
        let old = output(0, r#"{"ok":true,"users":["a@example.com"]}"#);
        assert!(matches!(
            read_reply::<api::UserList>("user list", &old),
            Err(Error::UpgradeNeeded { relay: 0, needed: 1 })
        ));
    }

    #[test]
    fn the_relay_s_own_errors_arrive_typed() {
        let failed = output(1, r#"{"api":1,"error":{"kind":"not-running","message":"no status"}}"#);
        let Err(Error::Relay { error, .. }) = read_reply::<api::Status>("status", &failed) else {
            panic!()
        };
        assert_eq!(error.kind, api::ErrorKind::NotRunning);
    }

    #[test]
    fn a_missing_relay_is_no_reply_with_the_shell_s_words() {
        let missing = ssh::Output {
            status: Some(127),
            stdout: String::new(),
            stderr: "sh: 1: /usr/local/bin/outpost-relay: not found\n".into(),
        };
        let Err(Error::NoReply { detail, .. }) = read_reply::<api::Status>("status", &missing)
        else {
            panic!()
        };
        assert!(detail.ends_with("not found"), "{detail}");
    }

    #[tokio::test]
    async fn the_queue_commands_name_the_message_after_the_options_and_read_typed_items() {
        let item = r#"{"id":"A1","from":"hello@example.com","user":"hello@example.com","created":1,"attempts":2,"nextAttempt":3,"recipients":[{"address":"bob@example.net","status":"pending","records":[{"at":2,"outcome":"temporary","host":"mx.example.net","ip":"203.0.113.25","tlsVersion":null,"tlsCipher":null,"reply":"451 4.7.1 try later"}]}]}"#;
        let server = FakeServer::new()
            .answer("'queue' 'list'", 0, &format!(r#"{{"api":1,"ok":{{"items":[{item}]}}}}"#))
            .answer("'queue' 'show'", 0, &format!(r#"{{"api":1,"ok":{item}}}"#))
            .answer("'queue' 'retry'", 0, r#"{"api":1,"ok":{"id":"A1"}}"#);
        let admin = RelayAdmin::new(&server);
        let items = admin.queue().await.unwrap();
        assert_eq!(items[0].recipients[0].route, api::Route::Submitted, "an old spool's default");
        assert_eq!(items[0].recipients[0].records[0].ip, Some("203.0.113.25".parse().unwrap()));
        assert_eq!(admin.queue_item("A1").await.unwrap().attempts, 2);
        assert_eq!(admin.retry("A1").await.unwrap().id, "A1");
        let commands = server.commands();
        assert!(
            commands[1].ends_with("--json --config '/etc/outpost/relay.toml' -- 'A1'"),
            "{}",
            commands[1]
        );
        let missing = FakeServer::new().answer(
            "'queue' 'retry'",
            1,
            r#"{"api":1,"error":{"kind":"not-found","message":"no queued message B2"}}"#,
        );
        let Err(Error::Relay { error, .. }) = RelayAdmin::new(&missing).retry("B2").await else {
            panic!()
        };
        assert_eq!(error.kind, api::ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn a_user_add_that_did_something_else_is_not_success() {
        // Help text instead of a reply, exit 0: what `user add -h@example.com` once did.
        let server = FakeServer::new().answer("'user' 'add'", 0, "Usage: outpost-relay user add");
        let admin = RelayAdmin::new(&server);
        assert!(matches!(
            admin.add_user("-h@example.com", "pw").await,
            Err(Error::Unreadable { .. })
        ));
        let server = FakeServer::new().answer(
            "'user' 'add'",
            0,
            r#"{"api":1,"ok":{"user":"other@example.com","action":"added"}}"#,
        );
        assert!(matches!(
            RelayAdmin::new(&server).add_user("me@example.com", "pw").await,
            Err(Error::Unreadable { .. })
        ));
        let server = FakeServer::new().answer(
            "'user' 'add'",
            0,
            r#"{"api":1,"ok":{"user":"me@example.com","action":"added"}}"#,
        );
        RelayAdmin::new(&server).add_user("me@example.com", "pw").await.unwrap();
        let stdin = match &server.requests()[0] {
            crate::remote::fake::Request::Run { stdin, .. } => stdin.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(stdin, b"pw\n", "the password goes on standard input, never in argv");
    }
}
