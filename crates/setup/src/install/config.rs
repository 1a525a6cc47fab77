//! What the relay is set up with: its config file (checked by the relay before it replaces the
//! old one), its DKIM keys (made on the server, backed up to the keychain) and the SMTP user
//! (a generated password, kept in the keychain).

use outpost_relay_api::{ConfigCheck, dkim_record_name};

use super::{Context, Detail, Error, Stage, Step, new_password};
use crate::relay_admin::{CONFIG, RelayAdmin};
use crate::remote::Remote;
use crate::secrets::SecretName;
use crate::ssh::quote;

pub(super) async fn config<R: Remote>(context: &mut Context<'_, R>) -> Result<Step, Error> {
    let wanted = context.input.config.to_toml();
    let (_, current) = context.probe(&format!("cat {} 2>/dev/null", quote(CONFIG))).await?;
    if current == wanted {
        return Ok(Step::new(Stage::Config, false, Detail::ConfigCurrent));
    }
    let staged = format!("{CONFIG}.new");
    context.upload(Stage::Config, wanted.as_bytes(), &staged, 0o640).await?;
    context.run(Stage::Config, &format!("chgrp outpost {}", quote(&staged)), b"").await?;
    if let ConfigCheck::Invalid { reason, .. } =
        RelayAdmin::new(context.remote).check_config(&staged).await?
    {
        let _ = context.probe(&format!("rm -f {}", quote(&staged))).await?;
        return Err(Error::Failed { stage: Stage::Config, detail: reason });
    }
    let replace = format!("mv -f {} {}", quote(&staged), quote(CONFIG));
    context.run(Stage::Config, &replace, b"").await?;
    Ok(Step::new(Stage::Config, true, Detail::ConfigWritten { path: CONFIG.into() }))
}

pub(super) async fn dkim<R: Remote>(context: &mut Context<'_, R>) -> Result<Step, Error> {
    let mut made = Vec::new();
    for key in &context.input.config.dkim {
        let path = key.key_file.to_string();
        let record = dkim_record_name(key.selector.as_str(), key.domain.as_str());
        let (present, _) = context.probe(&format!("test -s {}", quote(&path))).await?;
        if !present {
            RelayAdmin::new(context.remote)
                .dkim_generate(key.domain.as_str(), key.selector.as_str(), key.algorithm, &path)
                .await?;
            made.push(record.clone());
        }
        // Every run, so a run cut short between making the key and this still ends right.
        let permissions = format!("chgrp outpost {p} && chmod 0640 {p}", p = quote(&path));
        context.run(Stage::Dkim, &permissions, b"").await?;
        let name = SecretName::DkimKey { record };
        if context.secrets.get(&name).await?.is_none() {
            let pem = context.read_secret(Stage::Dkim, &path).await?;
            context.secrets.set(&name, &pem).await?;
        }
    }
    let detail = if made.is_empty() {
        Detail::DkimPresent
    } else {
        Detail::DkimMade { records: made.clone() }
    };
    Ok(Step::new(Stage::Dkim, !made.is_empty(), detail))
}

/// Removes an SMTP user the relay no longer needs (after the sending address changed) from the
/// server and from the keychain, so an old password stops working. Nothing to do if it is gone.
pub async fn retire_smtp_user<R: Remote>(
    remote: &R,
    secrets: &dyn crate::secrets::SecretStore,
    user: &str,
) -> Result<(), Error> {
    let admin = RelayAdmin::new(remote);
    if admin.users().await?.contains(user) {
        admin.remove_user(user).await?;
    }
    secrets.delete(&SecretName::SmtpPassword { user: user.to_ascii_lowercase() }).await?;
    Ok(())
}

pub(super) async fn smtp_user<R: Remote>(context: &mut Context<'_, R>) -> Result<Step, Error> {
    let users_file = context.input.config.users.file.to_string();
    let create =
        format!("test -f {u} || install -m 0640 -g outpost /dev/null {u}", u = quote(&users_file));
    context.run(Stage::SmtpUser, &create, b"").await?;
    let admin = RelayAdmin::new(context.remote);
    let user = context.input.smtp_user.to_ascii_lowercase();
    let exists = admin.users().await?.contains(&user);
    let secret = SecretName::SmtpPassword { user: user.clone() };
    let stored = context.secrets.get(&secret).await?;
    if exists && stored.is_some() {
        return Ok(Step::new(Stage::SmtpUser, false, Detail::SmtpUserExists { user }));
    }
    // A user without a password in this computer's keychain gets a new one: the old one is
    // unknown here, and the app must be able to send the test email.
    let password = new_password();
    admin.add_user(&user, &password).await?;
    context.secrets.set(&secret, &password).await?;
    Ok(Step::new(Stage::SmtpUser, true, Detail::SmtpUserSet { user }))
}

/// The relay's aliases made exactly the wizard's: added, changed and removed through
/// `outpost-relay alias`, in a file the relay (group `outpost`) can read.
pub(super) async fn aliases<R: Remote>(context: &mut Context<'_, R>) -> Result<Step, Error> {
    let config = &context.input.config;
    if config.listeners.inbound.is_empty() {
        return Ok(Step::new(Stage::Aliases, false, Detail::NotReceiving));
    }
    let file = config.inbound.aliases_file.to_string();
    let create =
        format!("test -f {f} || install -m 0640 -g outpost /dev/null {f}", f = quote(&file));
    context.run(Stage::Aliases, &create, b"").await?;
    let admin = RelayAdmin::new(context.remote);
    let current = admin.aliases().await?.aliases;
    let wanted = &context.input.aliases;
    let mut removed = Vec::new();
    for alias in &current {
        if !wanted.iter().any(|want| want.address.eq_ignore_ascii_case(&alias.address)) {
            admin.remove_alias(&alias.address).await?;
            removed.push(alias.address.clone());
        }
    }
    let mut set = Vec::new();
    for want in wanted {
        let same = current.iter().any(|alias| {
            alias.address.eq_ignore_ascii_case(&want.address)
                && alias.destinations.len() == want.destinations.len()
                && alias
                    .destinations
                    .iter()
                    .zip(&want.destinations)
                    .all(|(a, b)| a.eq_ignore_ascii_case(b))
        });
        if !same {
            admin.add_alias(&want.address, &want.destinations).await?;
            set.push(want.address.clone());
        }
    }
    if set.is_empty() && removed.is_empty() {
        return Ok(Step::new(
            Stage::Aliases,
            false,
            Detail::AliasesCurrent { count: wanted.len() },
        ));
    }
    Ok(Step::new(Stage::Aliases, true, Detail::AliasesSet { set, removed }))
}
