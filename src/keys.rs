//! `idauth keys`, and the development credential `idauth serve` creates.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use idauth_core::Factor;
use idauth_gateway::auth::{CallerKind, CredentialFile, Operation, Policy};
use serde_json::json;

use crate::cli::{CallerKindArg, FactorArg, KeysCommand, OperationArg, ServerArgs};
use crate::config::{Config, dev_credential_path};
use crate::secrets;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

fn config(server: &ServerArgs) -> anyhow::Result<Config> {
    Config::load(server.config.as_deref(), server.overrides())
}

/// The pepper keying API-key hashes.
pub fn pepper(config: &Config) -> anyhow::Result<[u8; 32]> {
    secrets::load_or_create(&config.pepper_path(), "credential pepper")
}

/// `idauth keys ...`.
pub fn run(command: &KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Issue(args) => {
            let config = config(&args.server)?;
            let pepper = pepper(&config)?;
            let path = config.credentials_path();
            let mut file = CredentialFile::load(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let policy = Policy {
                operations: args.operations.iter().map(|o| operation(*o)).collect(),
                factors: args.factors.iter().map(|f| factor(*f)).collect(),
                quota_per_second: args.quota,
                expires_ms: args
                    .expires_days
                    .map(|days| now_ms() + i64::from(days) * 86_400_000),
                plain_probes: args.plain_probes,
            };
            if let Some(pem) = &args.client_cert {
                use rustls_pki_types::CertificateDer;
                use rustls_pki_types::pem::PemObject;
                let der = CertificateDer::from_pem_file(pem).map_err(|e| {
                    anyhow::anyhow!("{}: not a PEM certificate: {e}", pem.display())
                })?;
                let credential = file
                    .issue_for_certificate(&args.caller, kind(args.kind), policy, &der, now_ms())
                    .map_err(anyhow::Error::msg)?;
                file.save(&path)
                    .with_context(|| format!("writing {}", path.display()))?;
                let fingerprint = credential.cert_sha256.unwrap_or_default();
                if args.json {
                    println!(
                        "{}",
                        json!({"caller": credential.caller_id, "cert_sha256": fingerprint, "policy": credential.policy})
                    );
                } else {
                    println!(
                        "issued a certificate credential for {} (SHA-256 {fingerprint}, quota {} requests/s)",
                        credential.caller_id, credential.policy.quota_per_second
                    );
                }
                return Ok(());
            }
            let issued = file
                .issue(&pepper, &args.caller, kind(args.kind), policy, now_ms())
                .map_err(anyhow::Error::msg)?;
            file.save(&path)
                .with_context(|| format!("writing {}", path.display()))?;
            if args.json {
                println!(
                    "{}",
                    json!({"caller": issued.credential.caller_id, "api_key": issued.api_key, "policy": issued.credential.policy})
                );
            } else {
                let quota = issued.credential.policy.quota_per_second;
                println!(
                    "issued a credential for {} (quota {quota} requests/s{})",
                    issued.credential.caller_id,
                    if args.quota == crate::cli::DEFAULT_QUOTA {
                        ", the default: --quota sets it"
                    } else {
                        ""
                    }
                );
                println!("API key (shown once, store it now): {}", issued.api_key);
            }
            Ok(())
        }
        KeysCommand::List(args) => {
            let config = config(&args.server)?;
            let path = config.credentials_path();
            let file = CredentialFile::load(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            if args.json {
                let list: Vec<serde_json::Value> = file
                    .credentials
                    .iter()
                    .map(|c| json!({"caller": c.caller_id, "kind": c.kind, "policy": c.policy, "cert_sha256": c.cert_sha256, "issued_ms": c.issued_ms, "revoked_ms": c.revoked_ms}))
                    .collect();
                println!("{}", serde_json::Value::Array(list));
                return Ok(());
            }
            println!(
                "{:<24} {:<17} {:<28} {:>6} {:<10}",
                "caller", "kind", "operations", "quota", "state"
            );
            for c in &file.credentials {
                let operations: Vec<&str> = c.policy.operations.iter().map(|o| o.name()).collect();
                let state = match (c.revoked_ms, c.policy.expires_ms) {
                    (Some(_), _) => "revoked",
                    (None, Some(expiry)) if expiry <= now_ms() => "expired",
                    _ => "active",
                };
                println!(
                    "{:<24} {:<17} {:<28} {:>6} {:<10}",
                    c.caller_id,
                    serde_json::to_value(c.kind)?.as_str().unwrap_or("?"),
                    operations.join(","),
                    c.policy.quota_per_second,
                    state
                );
            }
            Ok(())
        }
        KeysCommand::Revoke(args) => {
            let config = config(&args.server)?;
            let path = config.credentials_path();
            let mut file = CredentialFile::load(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            file.revoke(&args.caller, now_ms())
                .map_err(anyhow::Error::msg)?;
            file.save(&path)
                .with_context(|| format!("writing {}", path.display()))?;
            println!("revoked the credential of {}", args.caller);
            Ok(())
        }
    }
}

/// On start of `idauth serve`: a development credential allowed everything, its key
/// kept (owner-only) next to the other secrets for the client commands. A key already
/// there that this data directory does not know (a new or emptied data directory) is
/// registered with it, so the client commands keep working; one this data directory
/// revoked stays revoked, and serve says how to get a new one.
pub fn ensure_dev_credential(config: &Config) -> anyhow::Result<()> {
    let key_path = dev_credential_path(&config.secrets_dir());
    let kept = match std::fs::read_to_string(&key_path) {
        Ok(key) => Some(key.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", key_path.display())),
    };
    let pepper = pepper(config)?;
    let path = config.credentials_path();
    let mut file =
        CredentialFile::load(&path).with_context(|| format!("reading {}", path.display()))?;
    if let Some(key) = &kept {
        match file.holder_of(&pepper, key) {
            Some(holder) if holder.revoked_ms.is_none() => return Ok(()),
            Some(holder) => {
                eprintln!(
                    "idauth: the development credential in {} ({}) is revoked in this data \
                     directory; client commands using it will be refused. Delete that file \
                     and restart serve to get a new one.",
                    key_path.display(),
                    holder.caller_id
                );
                return Ok(());
            }
            None => {}
        }
    }
    // A dev credential whose key file is gone can never be used again: retire it.
    let mut n = 1;
    while let Some(old) = file
        .credentials
        .iter()
        .find(|c| c.caller_id == format!("dev-{n}"))
    {
        if old.revoked_ms.is_none() && kept.is_none() {
            let _ = file.revoke(&format!("dev-{n}"), now_ms());
        }
        n += 1;
    }
    let caller_id = format!("dev-{n}");
    let policy = Policy {
        operations: vec![
            Operation::Enrol,
            Operation::Verify,
            Operation::History,
            Operation::Operator,
        ],
        factors: Factor::ALL.to_vec(),
        quota_per_second: 100_000,
        expires_ms: None,
        // Development only: lets grpcurl experiments send fingers in clear.
        plain_probes: true,
    };
    let kind = CallerKind::Development;
    let issued = match kept {
        Some(key) => file.register(&pepper, &caller_id, kind, policy, key, now_ms()),
        None => file.issue(&pepper, &caller_id, kind, policy, now_ms()),
    }
    .map_err(anyhow::Error::msg)?;
    file.save(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    if key_path.exists() {
        eprintln!(
            "idauth: development credential {caller_id}: the key in {} is now registered \
             with the data directory {} (client commands use it by default)",
            key_path.display(),
            config.data_dir.display()
        );
    } else {
        secrets::write_private(&key_path, &issued.api_key)?;
        eprintln!(
            "idauth: development credential {caller_id} written to {} (client commands use it by default)",
            key_path.display()
        );
    }
    Ok(())
}

fn operation(arg: OperationArg) -> Operation {
    match arg {
        OperationArg::Enrol => Operation::Enrol,
        OperationArg::Verify => Operation::Verify,
        OperationArg::History => Operation::History,
        OperationArg::Operator => Operation::Operator,
    }
}

fn factor(arg: FactorArg) -> Factor {
    match arg {
        FactorArg::Fingerprint => Factor::Fingerprint,
        FactorArg::Name => Factor::Name,
        FactorArg::DateOfBirth => Factor::DateOfBirth,
        FactorArg::Gender => Factor::Gender,
        FactorArg::Address => Factor::Address,
    }
}

fn kind(arg: CallerKindArg) -> CallerKind {
    match arg {
        CallerKindArg::Agency => CallerKind::Agency,
        CallerKindArg::EnrolmentCentre => CallerKind::EnrolmentCentre,
        CallerKindArg::Operator => CallerKind::Operator,
    }
}
