//! The client commands: `idauth enrol`, `idauth verify`, `idauth import`,
//! `idauth history`.

mod history;
mod import;
pub(crate) mod request;

use anyhow::Context;
use idauth_client::{Client, ClientError, Credential, Tls};
use idauth_core::ErrorCode;
use idauth_proto::v1::{Decision, EnrolRequest, EnrolmentContext, VerifyRequest};
use serde_json::json;

use crate::cli::{ClientArgs, EnrolArgs, NameMatchArg, VerifyArgs};
use crate::config::{default_secrets_dir, dev_credential_path};
pub use history::history;
pub use import::import;

/// What a client command ends with: the process exit code.
pub type ExitCode = i32;

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The caller's credential: `--api-key` / `IDAUTH_API_KEY`, else `--api-key-file`,
/// else the client certificate alone when one is given, else the development
/// credential of `idauth serve`.
fn credential(args: &ClientArgs) -> anyhow::Result<Credential> {
    if let Some(key) = &args.api_key {
        return Ok(Credential::ApiKey(key.trim().to_owned()));
    }
    if args.api_key_file.is_none() && args.tls_cert.is_some() {
        return Ok(Credential::Certificate);
    }
    let path = args
        .api_key_file
        .clone()
        .unwrap_or_else(|| dev_credential_path(&default_secrets_dir()));
    let key = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no API key: {} is not readable; pass --api-key-file or set IDAUTH_API_KEY \
             (`idauth serve` writes a development key there on first start)",
            path.display()
        )
    })?;
    Ok(Credential::ApiKey(key.trim().to_owned()))
}

fn read(path: &std::path::Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading the {what} {}", path.display()))
}

/// TLS from `--tls-ca`, presenting `--tls-cert` / `--tls-key` when given.
fn tls(args: &ClientArgs) -> anyhow::Result<Option<Tls>> {
    let Some(ca) = &args.tls_ca else {
        return Ok(None);
    };
    let identity = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            Some((read(cert, "client certificate")?, read(key, "client key")?))
        }
        _ => None,
    };
    Ok(Some(Tls {
        ca_pem: read(ca, "server CA")?,
        identity,
    }))
}

/// Connects to the gateway with the caller's credential (and, for `https://`, over
/// TLS checked against `--tls-ca`).
pub(crate) async fn connect(args: &ClientArgs) -> anyhow::Result<Client> {
    let client = Client::connect(&args.server, &credential(args)?, tls(args)?.as_ref())
        .await
        .map_err(|error| match error {
            ClientError::Connect { .. } => {
                anyhow::Error::new(error).context("is `idauth serve` running?")
            }
            other => anyhow::Error::new(other),
        })?;
    Ok(client)
}

/// The error code of a refused call; a call that failed before the service answered
/// is an error of the command itself.
pub(crate) fn refusal(error: ClientError) -> anyhow::Result<ErrorCode> {
    error.code().ok_or_else(|| anyhow::Error::new(error))
}

/// The JSON form of an error code.
pub(crate) fn error_json(code: ErrorCode) -> serde_json::Value {
    json!({
        "code": code.number(),
        "name": code.name(),
        "family": code.family().name(),
        "action_hint": code.action_hint(),
    })
}

/// `idauth enrol`: exit 0 when enrolled (or replayed), 2 when refused.
pub fn enrol(args: &EnrolArgs) -> anyhow::Result<ExitCode> {
    let resident = request::identifier(&args.resident)?;
    let fingers = request::fingers(&args.resident.fingers)?;
    let demographics = request::demographics(&args.demographics);
    let request_id = args
        .request_id
        .clone()
        .unwrap_or_else(|| idauth_client::fresh_id("enrol"));
    runtime()?.block_on(async {
        let client = connect(&args.client).await?;
        let keys = client.service_keys().await?;
        let timestamp = idauth_client::now();
        let request = EnrolRequest {
            envelope: keys.seal(fingers, &request_id, &timestamp)?,
            context: Some(EnrolmentContext {
                centre_id: args.centre.clone(),
                request_id: request_id.clone(),
                timestamp: Some(timestamp),
                consent: true,
            }),
            resident: Some(resident),
            fingers: Vec::new(),
            demographics: Some(demographics),
        };
        match client.enrol(request).await {
            Ok(response) => {
                if args.client.json {
                    println!(
                        "{}",
                        json!({
                            "status": "ENROLLED",
                            "request_id": response.request_id,
                            "reference": response.reference,
                            "version": response.version,
                            "replayed": response.replayed,
                            "token": response.token,
                            "receipt": hex::encode(&response.receipt),
                            "receipt_valid": keys.enrol_receipt(&response),
                        })
                    );
                } else {
                    println!(
                        "enrolled: reference {} version {}{}",
                        response.reference,
                        response.version,
                        if response.replayed { " (replayed)" } else { "" }
                    );
                }
                Ok(0)
            }
            Err(error) => {
                let code = refusal(error)?;
                if args.client.json {
                    println!(
                        "{}",
                        json!({"status": "REFUSED", "request_id": request_id, "error": error_json(code)})
                    );
                } else {
                    eprintln!("refused: {} {} ({}): {}", code.number(), code.name(), code.family().name(), code.action_hint());
                }
                Ok(2)
            }
        }
    })
}

/// `idauth verify`: exit 0 on MATCH, 1 on NO_MATCH, 2 when the request was refused.
pub fn verify(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let resident = request::identifier(&args.resident)?;
    let fingers = request::fingers(&args.resident.fingers)?;
    let name_match = match args.name_match {
        NameMatchArg::Exact => idauth_core::NameMatch::Exact,
        NameMatchArg::Partial => idauth_core::NameMatch::Partial,
    };
    let query = request::query(&args.demographics, name_match);
    let txn = args
        .txn
        .clone()
        .unwrap_or_else(|| idauth_client::fresh_id("txn"));
    runtime()?.block_on(async {
        let client = connect(&args.client).await?;
        let keys = client.service_keys().await?;
        let timestamp = idauth_client::now();
        let request = VerifyRequest {
            envelope: keys.seal(fingers, &txn, &timestamp)?,
            txn: txn.clone(),
            timestamp: Some(timestamp),
            consent: true,
            resident: Some(resident),
            fingers: Vec::new(),
            demographics: Some(query),
            device_id: "idauth-cli".into(),
        };
        let (value, exit) = match client.verify(request).await {
            Ok(response) => {
                let matched = response.decision == i32::from(Decision::Match);
                let receipt_valid = keys.verify_receipt(&response);
                let error = response
                    .error
                    .as_ref()
                    .and_then(idauth_proto::status::code_of)
                    .map(error_json);
                let factors: Vec<serde_json::Value> = response
                    .factors
                    .iter()
                    .filter_map(|f| idauth_core::FactorResult::try_from(f).ok())
                    .map(|f| json!({"factor": f.factor.name(), "matched": f.matched}))
                    .collect();
                (
                    json!({
                        "decision": if matched { "MATCH" } else { "NO_MATCH" },
                        "code": response.reference,
                        "txn": response.txn,
                        "token": response.token,
                        "factors": factors,
                        "error": error,
                        "receipt": hex::encode(&response.receipt),
                        "receipt_valid": receipt_valid,
                    }),
                    if matched { 0 } else { 1 },
                )
            }
            Err(error) => (
                json!({
                    "decision": "NO_MATCH",
                    "code": null,
                    "txn": txn,
                    "factors": [],
                    "error": error_json(refusal(error)?),
                }),
                2,
            ),
        };
        if args.client.json {
            println!("{value}");
        } else {
            print_verify(&value);
        }
        Ok(exit)
    })
}

fn print_verify(value: &serde_json::Value) {
    println!("decision: {}", value["decision"].as_str().unwrap_or("?"));
    println!("txn: {}", value["txn"].as_str().unwrap_or(""));
    if let Some(code) = value["code"].as_str() {
        println!("reference: {code}");
    }
    for factor in value["factors"].as_array().into_iter().flatten() {
        println!(
            "  {}: {}",
            factor["factor"].as_str().unwrap_or("?"),
            if factor["matched"].as_bool() == Some(true) {
                "matched"
            } else {
                "did not match"
            }
        );
    }
    if value["error"].is_object() {
        let error = &value["error"];
        println!(
            "error: {} {} ({}): {}",
            error["code"],
            error["name"].as_str().unwrap_or(""),
            error["family"].as_str().unwrap_or(""),
            error["action_hint"].as_str().unwrap_or("")
        );
    }
}
