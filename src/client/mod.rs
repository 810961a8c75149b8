//! The client commands: `idauth enrol`, `idauth verify`, `idauth import`,
//! `idauth history`.

mod history;
mod import;
pub(crate) mod request;

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use idauth_core::ErrorCode;
use idauth_gateway::envelope::Binding;
use idauth_proto::convert;
use idauth_proto::status::from_status;
use idauth_proto::v1::auth_client::AuthClient;
use idauth_proto::v1::enrolment_client::EnrolmentClient;
use idauth_proto::v1::{
    Decision, EnrolRequest, EnrolmentContext, ServiceKeysRequest, VerifyRequest,
};
use serde_json::json;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

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

pub(crate) fn now() -> prost_types::Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    convert::timestamp(ms)
}

/// A fresh id for a request or a transaction: time and randomness, hex.
pub(crate) fn fresh_id(prefix: &str) -> String {
    let mut random = [0u8; 6];
    // Uniqueness only: a failed random source still leaves the time part.
    let _ = getrandom::fill(&mut random);
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let tail: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}-{ms:x}-{tail}")
}

/// Adds the caller's API key, when it has one, to every call.
#[derive(Clone)]
pub(crate) struct Bearer(Option<MetadataValue<Ascii>>);

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A connection that presents the caller's credential.
pub(crate) type Authenticated = InterceptedService<Channel, Bearer>;

/// The API key: `--api-key` / `IDAUTH_API_KEY`, else `--api-key-file`, else none when
/// a client certificate identifies the caller, else the development credential of
/// `idauth serve`.
fn api_key(args: &ClientArgs) -> anyhow::Result<Option<String>> {
    if let Some(key) = &args.api_key {
        return Ok(Some(key.trim().to_owned()));
    }
    if args.api_key_file.is_none() && args.tls_cert.is_some() {
        return Ok(None);
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
    Ok(Some(key.trim().to_owned()))
}

/// Connects to the gateway with the caller's credential (and, for `https://`, over
/// TLS checked against `--tls-ca`, presenting `--tls-cert` when given).
pub(crate) async fn connect(args: &ClientArgs) -> anyhow::Result<Authenticated> {
    let bearer = match api_key(args)? {
        Some(key) => Some(
            format!("Bearer {key}")
                .parse()
                .context("the API key holds characters a header cannot carry")?,
        ),
        None => None,
    };
    let server = &args.server;
    let mut endpoint = tonic::transport::Endpoint::from_shared(server.to_owned())
        .with_context(|| format!("server address {server:?}"))?;
    if let Some(ca) = &args.tls_ca {
        let identity = args.tls_cert.as_deref().zip(args.tls_key.as_deref());
        endpoint = endpoint
            .tls_config(crate::tls::client(ca, identity)?)
            .context("TLS settings")?;
    }
    let channel = endpoint
        .connect()
        .await
        .with_context(|| format!("connecting to {server} (is `idauth serve` running?)"))?;
    Ok(InterceptedService::new(channel, Bearer(bearer)))
}

/// The service's current envelope key (key id, X25519 public key) and its receipt
/// verification key.
pub(crate) async fn service_keys(
    connection: &Authenticated,
) -> anyhow::Result<((u32, Vec<u8>), Vec<u8>)> {
    let keys = AuthClient::new(connection.clone())
        .service_keys(ServiceKeysRequest {})
        .await
        .map_err(|status| {
            let code = from_status(&status);
            anyhow::anyhow!(
                "fetching the service keys: {} {}: {}",
                code.number(),
                code.name(),
                code.action_hint()
            )
        })?
        .into_inner();
    let key = keys
        .envelope_keys
        .into_iter()
        .next()
        .context("the service published no envelope key")?;
    Ok(((key.key_id, key.public_key), keys.receipt_public_key))
}

/// The service's current envelope key: (key id, X25519 public key).
pub(crate) async fn envelope_key(connection: &Authenticated) -> anyhow::Result<(u32, Vec<u8>)> {
    Ok(service_keys(connection).await?.0)
}

/// Encrypts fingers to the service key, bound to `txn` and `timestamp`.
pub(crate) fn seal(
    key: &(u32, Vec<u8>),
    fingers: Vec<idauth_proto::v1::Finger>,
    txn: &str,
    timestamp: &prost_types::Timestamp,
) -> anyhow::Result<Option<idauth_proto::v1::Envelope>> {
    if fingers.is_empty() {
        return Ok(None);
    }
    let binding = Binding {
        txn,
        timestamp: (timestamp.seconds, timestamp.nanos),
    };
    let envelope = idauth_gateway::envelope::seal(key.0, &key.1, fingers, binding)
        .map_err(anyhow::Error::msg)?;
    Ok(Some(envelope))
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
    let request_id = args.request_id.clone().unwrap_or_else(|| fresh_id("enrol"));
    runtime()?.block_on(async {
        let connection = connect(&args.client).await?;
        let (key, receipt_key) = service_keys(&connection).await?;
        let timestamp = now();
        let request = EnrolRequest {
            envelope: seal(&key, fingers, &request_id, &timestamp)?,
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
        let mut client = EnrolmentClient::new(connection);
        match client.enrol(request).await {
            Ok(response) => {
                let response = response.into_inner();
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
                            "receipt_valid": idauth_gateway::receipt::check_enrol(&receipt_key, &response),
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
            Err(status) => {
                let code = from_status(&status);
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
    let txn = args.txn.clone().unwrap_or_else(|| fresh_id("txn"));
    runtime()?.block_on(async {
        let connection = connect(&args.client).await?;
        let (key, receipt_key) = service_keys(&connection).await?;
        let timestamp = now();
        let request = VerifyRequest {
            envelope: seal(&key, fingers, &txn, &timestamp)?,
            txn: txn.clone(),
            timestamp: Some(timestamp),
            consent: true,
            resident: Some(resident),
            fingers: Vec::new(),
            demographics: Some(query),
            device_id: "idauth-cli".into(),
        };
        let mut client = AuthClient::new(connection);
        let (value, exit) = match client.verify(request).await {
            Ok(response) => {
                let response = response.into_inner();
                let matched = response.decision == i32::from(Decision::Match);
                let receipt_valid = idauth_gateway::receipt::check(&receipt_key, &response);
                let error = response
                    .error
                    .as_ref()
                    .and_then(idauth_proto::status::code_of)
                    .map(error_json);
                let factors: Vec<serde_json::Value> = response
                    .factors
                    .iter()
                    .filter_map(convert::factor_result)
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
            Err(status) => (
                json!({
                    "decision": "NO_MATCH",
                    "code": null,
                    "txn": txn,
                    "factors": [],
                    "error": error_json(from_status(&status)),
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
