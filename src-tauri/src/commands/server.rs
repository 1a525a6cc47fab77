//! Steps 3 and 4: connecting to the server (host key confirmed, login kept in the keychain) and
//! checking it. Every network call runs as a [`cancellable`] operation.

use std::future::Future;

use outpost_setup::checks::{self, Check};
use outpost_setup::choices::{Login, Server};
use outpost_setup::install;
use outpost_setup::progress::Progress;
use outpost_setup::secrets::{SecretName, SecretStore};
use outpost_setup::settings::Settings;
use outpost_setup::ssh::{self, Credentials, HostKey, Session, Target};
use serde::Deserialize;
use tauri::State;
use tauri::ipc::Channel;

use crate::commands::profile::{ProfileView, update};
use crate::ipc::{ErrorCode, IpcError};
use crate::state::AppState;

/// Runs `work` as a long operation that [`cancel`] can stop (at its next `await`); the user
/// then gets a `cancelled` error. Every engine step is idempotent, so stopping is safe.
pub async fn cancellable<T: Send + 'static>(
    state: &AppState,
    work: impl Future<Output = Result<T, IpcError>> + Send + 'static,
) -> Result<T, IpcError> {
    let task = tokio::spawn(work);
    let id = task.id();
    state
        .running
        .lock()
        .map_err(|error| IpcError::internal(error.to_string()))?
        .insert(id, task.abort_handle());
    let result = task.await;
    if let Ok(mut running) = state.running.lock() {
        running.remove(&id);
    }
    match result {
        Ok(result) => result,
        Err(error) if error.is_cancelled() => Err(IpcError::cancelled()),
        Err(error) => Err(IpcError::internal(error.to_string())),
    }
}

/// Stops the long operations in progress (the DNS step runs two at once), if any.
#[tauri::command]
pub async fn cancel(state: State<'_, AppState>) -> Result<(), IpcError> {
    let mut running =
        state.running.lock().map_err(|error| IpcError::internal(error.to_string()))?;
    for (_, task) in running.drain() {
        task.abort();
    }
    Ok(())
}

/// Where to connect, as typed.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    host: String,
    port: u16,
    user: String,
}

impl Address {
    fn target(&self) -> Result<Target, IpcError> {
        let host = self.host.trim().trim_start_matches("ssh://").trim_end_matches('/');
        let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
        if host.is_empty() {
            return Err(IpcError::invalid(
                "host",
                "Type your server's address: the IP address from your provider's panel or welcome email, such as 203.0.113.7.",
            ));
        }
        if host.contains(char::is_whitespace) || host.contains(['/', '\\', '\'', '"', '`', '$']) {
            return Err(IpcError::invalid(
                "host",
                format!(
                    "“{host}” is not an address. Type only the IP address or host name, such as 203.0.113.7."
                ),
            ));
        }
        if self.port == 0 {
            return Err(IpcError::invalid("port", "The SSH port is a number, usually 22."));
        }
        let user = self.user.trim();
        if user.is_empty() || user.contains(char::is_whitespace) {
            return Err(IpcError::invalid(
                "user",
                "Type the user name to sign in with, usually root.",
            ));
        }
        Ok(Target { host: host.to_string(), port: self.port, user: user.to_string() })
    }
}

/// How to log in, as chosen on the Connect screen. Never logged: the password and key
/// passphrase go straight to SSH and the keychain.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginForm {
    kind: Login,
    password: Option<String>,
    key_file: Option<String>,
    passphrase: Option<String>,
}

/// Reads the server's host key for the user to confirm before anything is sent.
#[tauri::command]
pub async fn first_contact(
    state: State<'_, AppState>,
    address: Address,
) -> Result<HostKey, IpcError> {
    let target = address.target()?;
    cancellable(&state, async move { Ok(ssh::first_contact(&target).await?) }).await
}

/// Makes a new ed25519 key for `user@host`, keeps its private half in the keychain, and
/// returns the line to paste into the provider's panel (or to let Outpost add with the password).
#[tauri::command]
pub async fn new_ssh_key(state: State<'_, AppState>, address: Address) -> Result<String, IpcError> {
    let target = address.target()?;
    let login = format!("{}@{}", target.user, target.host);
    let (private_key, line) = ssh::generate_key(&format!("outpost:{login}"))?;
    state.secrets.set(&SecretName::SshKey { login }, &private_key).await?;
    Ok(line)
}

/// Logs in with the confirmed host key and saves the server in the profile; the password or
/// key goes to the keychain. For a new key with a password given, the password logs in once to
/// add the key, and the key is used from then on (the password is not kept).
#[tauri::command]
pub async fn connect(
    state: State<'_, AppState>,
    address: Address,
    fingerprint: String,
    login: LoginForm,
) -> Result<ProfileView, IpcError> {
    let target = address.target()?;
    let login_name = format!("{}@{}", target.user, target.host);
    let password =
        login.password.as_deref().filter(|password| !password.is_empty()).map(str::to_string);
    let (credentials, keep) = match login.kind {
        Login::Password => {
            let password = password.clone().ok_or_else(|| {
                IpcError::invalid(
                    "password",
                    "Type the server's password (from your provider's welcome email or panel).",
                )
            })?;
            (
                Credentials::Password(password.clone()),
                (SecretName::SshPassword { login: login_name.clone() }, password),
            )
        }
        Login::Key => {
            let path = login.key_file.as_deref().unwrap_or("").trim().to_string();
            if path.is_empty() {
                return Err(IpcError::invalid(
                    "keyFile",
                    "Type the path of your private key file, such as ~/.ssh/id_ed25519.",
                ));
            }
            let path = expand_home(&path);
            let text = std::fs::read_to_string(&path).map_err(|error| {
                IpcError::invalid(
                    "keyFile",
                    format!("Outpost cannot read {}: {error}. Check the path.", path.display()),
                )
            })?;
            if text.trim_start().starts_with("ssh-") {
                return Err(IpcError::invalid(
                    "keyFile",
                    "This is the public key (the .pub file). Choose the file with the same name without .pub.",
                ));
            }
            let passphrase = login.passphrase.filter(|passphrase| !passphrase.is_empty());
            let unlocked = ssh::unlock_key(&text, passphrase.as_deref()).map_err(|error| {
                if passphrase.is_none() {
                    IpcError::invalid("passphrase", format!("This key needs its passphrase ({error}). Type it in the passphrase field."))
                } else {
                    IpcError::invalid("passphrase", format!("The passphrase does not open this key ({error})."))
                }
            })?;
            (
                Credentials::Key { private_key: unlocked.clone(), passphrase: None },
                (SecretName::SshKey { login: login_name.clone() }, unlocked),
            )
        }
        Login::NewKey => {
            let name = SecretName::SshKey { login: login_name.clone() };
            let private_key = state.secrets.get(&name).await?.ok_or_else(|| {
                IpcError::invalid(
                    "newKey",
                    "Make the new key first (the button above), then add its line to the server.",
                )
            })?;
            (
                Credentials::Key { private_key: private_key.clone(), passphrase: None },
                (name, private_key),
            )
        }
    };
    // A new key with the password given: the password logs in once to add the key's line.
    let add_key = match (login.kind, password, &credentials) {
        (Login::NewKey, Some(password), Credentials::Key { private_key, .. }) => {
            Some((password, ssh::public_line(private_key)?))
        }
        _ => None,
    };
    let pinned = fingerprint.clone();
    let target_for_task = target.clone();
    cancellable(&state, async move {
        if let Some((password, line)) = add_key {
            let session =
                ssh::connect(&target_for_task, &Credentials::Password(password), &pinned).await?;
            session.authorize_key(&line).await?;
            session.close().await;
        }
        let mut session = ssh::connect(&target_for_task, &credentials, &pinned).await?;
        let root = session.become_root(sudo_password(&credentials)).await;
        session.close().await;
        Ok(root?)
    })
    .await?;
    state.secrets.set(&keep.0, &keep.1).await?;
    let server = Server {
        host: target.host,
        port: target.port,
        user: target.user,
        fingerprint,
        login: login.kind,
    };
    update(&state, move |profile| {
        if profile.server.as_ref().is_some_and(|old| old.host != server.host) {
            // Another server: what was installed on the old one says nothing about this one.
            profile.installed = None;
        }
        profile.server = Some(server);
    })
    .await
}

/// The password sudo may ask for: the login's, for a password login.
fn sudo_password(credentials: &Credentials) -> Option<&str> {
    match credentials {
        Credentials::Password(password) => Some(password),
        Credentials::Key { .. } => None,
    }
}

fn expand_home(path: &str) -> std::path::PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => std::path::Path::new(&home).join(rest),
        _ => std::path::PathBuf::from(path),
    }
}

/// The saved server and its login from the keychain.
pub async fn saved_login(state: &AppState) -> Result<(Server, Credentials), IpcError> {
    let server = state.profile.lock().await.server.clone().ok_or_else(|| {
        IpcError::new(
            ErrorCode::NotConnected,
            "Outpost is not connected to a server yet.",
            "Go back to the Connect step and sign in to your server.",
        )
    })?;
    let login = server.login_name();
    let secret = match server.login {
        Login::Password => SecretName::SshPassword { login },
        Login::Key | Login::NewKey => SecretName::SshKey { login },
    };
    let value = state.secrets.get(&secret).await?.ok_or_else(|| {
        IpcError::new(
            ErrorCode::NotConnected,
            format!("The login for {} is no longer in your keychain.", server.login_name()),
            "Go back to the Connect step and sign in again.",
        )
    })?;
    let credentials = match server.login {
        Login::Password => Credentials::Password(value),
        Login::Key | Login::NewKey => Credentials::Key { private_key: value, passphrase: None },
    };
    Ok((server, credentials))
}

/// Connects to the saved server, with commands running as root (through sudo if needed).
pub async fn open(server: &Server, credentials: &Credentials) -> Result<Session, IpcError> {
    let target = Target { host: server.host.clone(), port: server.port, user: server.user.clone() };
    let mut session = ssh::connect(&target, credentials, &server.fingerprint).await?;
    session.become_root(sudo_password(credentials)).await?;
    Ok(session)
}

/// The advanced settings, or an error saying what is wrong with the file.
pub fn settings(state: &AppState) -> Result<Settings, IpcError> {
    state.settings.clone().map_err(|reason| {
        IpcError::new(
            ErrorCode::Internal,
            format!("Outpost's advanced settings could not be read: {reason}."),
            "Correct or delete that file, then restart Outpost.",
        )
    })
}

/// Runs every server check.
#[tauri::command]
pub async fn run_checks(state: State<'_, AppState>) -> Result<Vec<Check>, IpcError> {
    let (server, credentials) = saved_login(&state).await?;
    let settings = settings(&state)?.checks();
    cancellable(&state, async move {
        let session = open(&server, &credentials).await?;
        let results = checks::run_all(&session, &settings).await;
        session.close().await;
        Ok(results?)
    })
    .await
}

/// Stops and disables a preinstalled mail server (Postfix, Exim, …), streaming what it does.
#[tauri::command]
pub async fn stop_mail_servers(
    state: State<'_, AppState>,
    on_progress: Channel<Progress>,
) -> Result<Vec<String>, IpcError> {
    let (server, credentials) = saved_login(&state).await?;
    cancellable(&state, async move {
        let session = open(&server, &credentials).await?;
        let stopped = install::stop_other_mail_servers(&session, &mut |event| {
            let _ = on_progress.send(event);
        })
        .await;
        session.close().await;
        Ok(stopped?)
    })
    .await
}
