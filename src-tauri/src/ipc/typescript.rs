//! The UI's TypeScript types, generated from the Rust ones with ts-rs: every type a command
//! takes or returns, in `ui/src/lib/generated/ipc.ts`. A test fails when that file is not what
//! the Rust types generate; `./dev types` rewrites it.

use std::any::TypeId;
use std::collections::BTreeMap;

use ts_rs::{Config, TS, TypeVisitor};

/// Where the generated file lives, from this crate's directory.
const PATH: &str = "../ui/src/lib/generated/ipc.ts";

/// Collects the declaration of every named type reached. Two Rust types with one TypeScript
/// name would make one of them silently wrong in the UI: that is a panic, which names both.
struct Declarations<'a> {
    config: &'a Config,
    found: BTreeMap<String, (TypeId, &'static str, String)>,
}

impl TypeVisitor for Declarations<'_> {
    fn visit<T: TS + 'static + ?Sized>(&mut self) {
        if T::output_path().is_none() {
            return;
        }
        let name = T::ident(self.config);
        match self.found.get(&name) {
            Some((seen, rust, _)) => assert!(
                *seen == TypeId::of::<T>(),
                "{rust} and {} are both `{name}` in TypeScript: give one a #[ts(rename)]",
                std::any::type_name::<T>()
            ),
            None => {
                let entry = (TypeId::of::<T>(), std::any::type_name::<T>(), T::decl(self.config));
                self.found.insert(name, entry);
                T::visit_dependencies(self);
            }
        }
    }
}

/// The generated file's text.
fn generate() -> String {
    use outpost_setup::{
        app, checks, choices, dns, install, probe, profile, progress, providers, relay, ssh,
    };
    let config = Config::new().with_large_int("number");
    let mut declarations = Declarations { config: &config, found: BTreeMap::new() };
    declarations.visit::<super::IpcError>();
    declarations.visit::<crate::commands::profile::ProfileView>();
    declarations.visit::<crate::commands::about::About>();
    declarations.visit::<crate::commands::update::UpdateOffer>();
    declarations.visit::<crate::commands::update::UpdateProgress>();
    declarations.visit::<crate::watch::TrayWords>();
    declarations.visit::<crate::commands::domain::DomainForm>();
    declarations.visit::<app::Address>();
    declarations.visit::<app::LoginForm>();
    declarations.visit::<app::InstallReport>();
    declarations.visit::<app::CertificateReport>();
    declarations.visit::<app::TestReport>();
    declarations.visit::<app::SendMailAs>();
    declarations.visit::<outpost_setup::test_email::TestEmail>();
    declarations.visit::<outpost_setup::test_email::TestMessage>();
    declarations.visit::<outpost_relay_api::Status>();
    declarations.visit::<checks::Check>();
    declarations.visit::<choices::Domain>();
    declarations.visit::<dns::report::Report>();
    declarations.visit::<dns::blocklists::Entry>();
    declarations.visit::<install::MailServer>();
    declarations.visit::<probe::Submission>();
    declarations.visit::<profile::Language>();
    declarations.visit::<profile::Step>();
    declarations.visit::<progress::Progress>();
    declarations.visit::<providers::Provider>();
    declarations.visit::<relay::Carried>();
    declarations.visit::<ssh::HostKey>();
    declarations.visit::<outpost_setup::secrets::KeychainState>();
    declarations.visit::<outpost_setup::health::Health>();
    declarations.visit::<outpost_relay_api::QueueRetry>();
    declarations.visit::<outpost_relay_api::QueueDeleted>();
    declarations.visit::<outpost_setup::users::User>();
    declarations.visit::<app::UserChange>();
    declarations.visit::<outpost_setup::install::UninstallPlan>();
    declarations.visit::<crate::watch::Watched>();
    declarations.visit::<app::DkimSwitch>();
    declarations.visit::<app::BackupSaved>();
    declarations.visit::<app::Restored>();
    declarations.visit::<choices::ExtraDomainForm>();
    declarations.visit::<app::DomainRemoved>();
    let mut text = String::from(
        "// Generated from the Rust types by src-tauri/src/ipc/typescript.rs (ts-rs). Do not edit:\n\
         // change the Rust type and run `./dev types`; a test fails while this file is stale.\n",
    );
    for (_, _, declaration) in declarations.found.values() {
        text.push_str("\nexport ");
        text.push_str(declaration.trim());
        text.push('\n');
    }
    // The install's stages in the order the engine runs them: spelled once, in Rust.
    let stages: Vec<String> = install::STAGES
        .iter()
        .map(|stage| serde_json::to_string(stage).expect("a stage serializes"))
        .collect();
    text.push_str(&format!(
        "\n/** The install's stages, in the order they run (`install::STAGES`). */\nexport const INSTALL_STAGES: readonly Stage[] = [{}];\n",
        stages.join(", ")
    ));
    text
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn the_generated_typescript_is_current() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(super::PATH);
        let generated = super::generate();
        if std::env::var_os("OUTPOST_WRITE_TYPES").is_some() {
            std::fs::write(&path, &generated).unwrap();
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{} is not what the Rust types generate: run `./dev types` and commit the result",
            path.display()
        );
    }
}
