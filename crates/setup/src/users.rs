//! SMTP users on the relay besides the one the install made: a login each for a second person,
//! a phone, an app or a device that sends mail (a printer, a NAS). Each password is generated
//! here and kept only in the keychain; the server keeps its argon2 hash.
//!
//! The server's users file is the truth (`user list`); the install's own user — the sending
//! address, which the test email and the mail-program settings use — is marked and cannot be
//! removed here (changing the sending address in "Your domain" retires it).

use serde::Serialize;

use crate::choices::{Field, Invalid, Problem, email_address};
use crate::install::new_password;
use crate::relay_admin::{self, RelayAdmin};
use crate::remote::Remote;
use crate::secrets::{self, SecretName, SecretStore};

/// One SMTP user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "SmtpUser")]
pub struct User {
    /// The login, an address at the domain.
    pub address: String,
    /// Addresses at the relay's other domains it may also send as (its own domain always).
    pub senders: Vec<String>,
    /// The install's own user (the sending address).
    pub main: bool,
    /// Whether this computer's keychain has its password (users made by hand have none here).
    pub password_kept: bool,
}

/// Why a users change did not happen.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// What was typed cannot be a user.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The relay's command failed.
    #[error(transparent)]
    Admin(#[from] relay_admin::Error),
    /// The keychain failed.
    #[error(transparent)]
    Secrets(#[from] secrets::Error),
}

/// A new user's address, checked: an address at one of the relay's `domains` (the first domain
/// first).
pub fn check_address(typed: &str, domains: &[String]) -> Result<String, Invalid> {
    at_domains(typed, domains).map_err(|problem| Invalid::new(Field::SmtpUser, problem))
}

/// An address at one of `domains`, lower case, or why it is not one.
fn at_domains(typed: &str, domains: &[String]) -> Result<String, Problem> {
    let address = email_address(typed)?.to_ascii_lowercase();
    if domains.iter().any(|domain| address.ends_with(&format!("@{domain}"))) {
        return Ok(address);
    }
    Err(match domains {
        [domain] => Problem::OutsideDomain { domain: domain.clone() },
        _ => Problem::OutsideDomains { domains: domains.to_vec() },
    })
}

/// The addresses a user may also send as, checked: each at one of the relay's `domains`, each
/// once (the row of a wrong one is named).
pub fn check_senders(typed: &[String], domains: &[String]) -> Result<Vec<String>, Invalid> {
    let mut senders: Vec<String> = Vec::new();
    for (index, sender) in typed.iter().enumerate() {
        let invalid =
            |problem| Invalid { item: Some(index), ..Invalid::new(Field::Sends, problem) };
        let sender = at_domains(sender, domains).map_err(invalid)?;
        if senders.contains(&sender) {
            return Err(invalid(Problem::Duplicate));
        }
        senders.push(sender);
    }
    Ok(senders)
}

/// Lets `address` also send as `senders` (none: only its own domain).
pub async fn set_senders<R: Remote>(
    remote: &R,
    address: &str,
    senders: &[String],
    domains: &[String],
) -> Result<(), Error> {
    let senders = check_senders(senders, domains)?;
    RelayAdmin::new(remote).set_senders(address, &senders).await?;
    Ok(())
}

/// Every user on the server, the install's own first.
pub async fn list<R: Remote>(
    remote: &R,
    secrets: &dyn SecretStore,
    main: &str,
) -> Result<Vec<User>, Error> {
    let list = RelayAdmin::new(remote).users().await?;
    let mut users = Vec::new();
    for address in &list.users {
        let kept = secrets.get(&SecretName::SmtpPassword { user: address.clone() }).await?;
        users.push(User {
            address: address.clone(),
            senders: list.senders.get(address).cloned().unwrap_or_default(),
            main: address.eq_ignore_ascii_case(main),
            password_kept: kept.is_some(),
        });
    }
    users.sort_by_key(|user| (!user.main, user.address.clone()));
    Ok(users)
}

/// Adds a user at `domain` with a new password (kept in the keychain); an existing one is a
/// duplicate, not silently given a new password.
pub async fn add<R: Remote>(
    remote: &R,
    secrets: &dyn SecretStore,
    typed: &str,
    domains: &[String],
) -> Result<String, Error> {
    let address = check_address(typed, domains)?;
    let admin = RelayAdmin::new(remote);
    if admin.users().await?.contains(&address) {
        return Err(Invalid::new(Field::SmtpUser, Problem::Duplicate).into());
    }
    set_password(remote, secrets, &address).await?;
    Ok(address)
}

/// Gives `address` a new password (the old one stops working at once) and keeps it in the
/// keychain.
pub async fn set_password<R: Remote>(
    remote: &R,
    secrets: &dyn SecretStore,
    address: &str,
) -> Result<(), Error> {
    let password = new_password();
    RelayAdmin::new(remote).add_user(address, &password).await?;
    secrets
        .set(&SecretName::SmtpPassword { user: address.to_ascii_lowercase() }, &password)
        .await?;
    Ok(())
}

/// Makes sure `address` is a user whose password this computer's keychain has (a further
/// domain's sending address): a missing one is added, one without a kept password gets a new one.
pub async fn ensure<R: Remote>(
    remote: &R,
    secrets: &dyn SecretStore,
    address: &str,
) -> Result<(), Error> {
    let address = address.to_ascii_lowercase();
    let exists = RelayAdmin::new(remote).users().await?.contains(&address);
    let kept = secrets.get(&SecretName::SmtpPassword { user: address.clone() }).await?;
    if !exists || kept.is_none() {
        set_password(remote, secrets, &address).await?;
    }
    Ok(())
}

/// Removes a user from the server and its password from the keychain; never the install's own.
pub async fn remove<R: Remote>(
    remote: &R,
    secrets: &dyn SecretStore,
    address: &str,
    main: &str,
) -> Result<(), Error> {
    if address.eq_ignore_ascii_case(main) {
        return Err(Invalid::new(Field::SmtpUser, Problem::MainUser).into());
    }
    let admin = RelayAdmin::new(remote);
    if admin.users().await?.contains(address) {
        admin.remove_user(address).await?;
    }
    secrets.delete(&SecretName::SmtpPassword { user: address.to_ascii_lowercase() }).await?;
    Ok(())
}

impl From<Error> for crate::app::Error {
    fn from(error: Error) -> Self {
        match error {
            Error::Invalid(invalid) => crate::app::Error::Invalid(invalid),
            Error::Admin(admin) => crate::app::Error::Admin(admin),
            Error::Secrets(secrets) => crate::app::Error::Secrets(secrets),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::fake::FakeServer;
    use crate::secrets::MemoryStore;
    use outpost_relay_api as api;

    /// The relay's `user list` reply.
    fn reply(users: &[&str]) -> String {
        let list = api::UserList {
            users: users.iter().map(|user| user.to_string()).collect(),
            senders: Default::default(),
        };
        serde_json::to_string(&api::Response::ok(list)).expect("serializes")
    }

    fn domains(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn a_user_is_an_address_at_one_of_the_domains() {
        let one = domains(&["example.com"]);
        assert_eq!(check_address(" Printer@Example.com ", &one).unwrap(), "printer@example.com");
        assert_eq!(
            check_address("printer@example.org", &one).unwrap_err().problem,
            Problem::OutsideDomain { domain: "example.com".into() }
        );
        assert_eq!(check_address("printer", &one).unwrap_err().problem, Problem::NoAt);
        assert_eq!(check_address("", &one).unwrap_err().field, Field::SmtpUser);
        let two = domains(&["example.com", "example.org"]);
        assert_eq!(check_address("shop@example.org", &two).unwrap(), "shop@example.org");
        assert_eq!(
            check_address("shop@example.net", &two).unwrap_err().problem,
            Problem::OutsideDomains { domains: two.clone() }
        );
    }

    #[test]
    fn senders_are_addresses_at_the_domains_each_once_with_the_wrong_row_named() {
        let two = domains(&["example.com", "example.org"]);
        let typed = domains(&[" Shop@Example.org", "news@example.org"]);
        assert_eq!(check_senders(&typed, &two).unwrap(), ["shop@example.org", "news@example.org"]);
        let error = check_senders(&domains(&["a@example.org", "b@gmail.test"]), &two).unwrap_err();
        assert_eq!((error.field, error.item), (Field::Sends, Some(1)));
        let error = check_senders(&domains(&["a@example.org", "A@example.org"]), &two).unwrap_err();
        assert_eq!(error.problem, Problem::Duplicate);
        assert_eq!(check_senders(&[], &two).unwrap(), Vec::<String>::new(), "none clears them");
    }

    #[tokio::test]
    async fn a_new_user_gets_a_generated_password_kept_only_in_the_keychain() {
        let server =
            FakeServer::new().answer("'user' 'list'", 0, &reply(&["alice@example.com"])).answer(
                "'user' 'add'",
                0,
                r#"{"api":2,"ok":{"user":"printer@example.com","action":"added"}}"#,
            );
        let secrets = MemoryStore::default();
        let added = add(&server, &secrets, "printer@example.com", &domains(&["example.com"]))
            .await
            .unwrap();
        assert_eq!(added, "printer@example.com");
        let password = secrets
            .get(&SecretName::SmtpPassword { user: added.clone() })
            .await
            .unwrap()
            .expect("kept");
        assert_eq!(password.len(), 24);
        let sent = server.requests();
        let command = sent.iter().find_map(|request| match request {
            crate::remote::fake::Request::Run { command, stdin } if command.contains("'add'") => {
                Some((command.clone(), stdin.clone()))
            }
            _ => None,
        });
        let (command, stdin) = command.expect("user add ran");
        assert!(!command.contains(&password), "the password never goes on a command line");
        assert_eq!(stdin, format!("{password}\n").into_bytes(), "it goes on standard input");
    }

    #[tokio::test]
    async fn an_existing_user_is_a_duplicate_and_the_main_user_stays() {
        let server = FakeServer::new().answer("'user' 'list'", 0, &reply(&["alice@example.com"]));
        let secrets = MemoryStore::default();
        let error = add(&server, &secrets, "Alice@example.com", &domains(&["example.com"]))
            .await
            .unwrap_err();
        assert!(matches!(error, Error::Invalid(Invalid { problem: Problem::Duplicate, .. })));
        let error =
            remove(&server, &secrets, "ALICE@example.com", "alice@example.com").await.unwrap_err();
        assert!(matches!(error, Error::Invalid(Invalid { problem: Problem::MainUser, .. })));
        assert!(!server.commands().iter().any(|command| command.contains("'remove'")));
    }

    #[tokio::test]
    async fn the_list_puts_the_main_user_first_and_knows_whose_password_is_kept() {
        let server = FakeServer::new().answer(
            "'user' 'list'",
            0,
            &reply(&["printer@example.com", "alice@example.com", "byhand@example.com"]),
        );
        let secrets = MemoryStore::default();
        for user in ["alice@example.com", "printer@example.com"] {
            secrets.set(&SecretName::SmtpPassword { user: user.into() }, "x").await.unwrap();
        }
        let users = list(&server, &secrets, "alice@example.com").await.unwrap();
        let seen: Vec<(&str, bool, bool)> =
            users.iter().map(|u| (u.address.as_str(), u.main, u.password_kept)).collect();
        assert_eq!(
            seen,
            [
                ("alice@example.com", true, true),
                ("byhand@example.com", false, false),
                ("printer@example.com", false, true)
            ]
        );
    }
}
