//! TLS settings from the configuration: server identities, client-certificate CAs and
//! the gateway's client side towards its shards (rustls, through tonic).

use std::path::Path;

use anyhow::Context;
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use crate::config::Config;

fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading the {what} {}", path.display()))
}

/// The certificate and key of `tls_cert` / `tls_key`, when set (both or neither).
fn identity(config: &Config) -> anyhow::Result<Option<Identity>> {
    match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Ok(Some(Identity::from_pem(
            read(cert, "TLS certificate")?,
            read(key, "TLS key")?,
        ))),
        (None, None) => Ok(None),
        _ => anyhow::bail!("tls_cert and tls_key must be set together"),
    }
}

/// Whether a listener must see a client certificate on every connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCerts {
    /// Callers may present one (and are then identified by it) or an API key.
    Optional,
    /// No connection without one: the shard API, reachable only by gateways.
    Required,
}

/// The listener's TLS settings; `None` serves plain HTTP/2.
pub fn server(
    config: &Config,
    client_certs: ClientCerts,
) -> anyhow::Result<Option<ServerTlsConfig>> {
    let Some(identity) = identity(config)? else {
        anyhow::ensure!(
            config.tls_client_ca.is_none(),
            "tls_client_ca needs tls_cert and tls_key: client certificates only travel over TLS"
        );
        return Ok(None);
    };
    let mut tls = ServerTlsConfig::new().identity(identity);
    if let Some(ca) = &config.tls_client_ca {
        tls = tls
            .client_ca_root(Certificate::from_pem(read(ca, "client CA")?))
            .client_auth_optional(client_certs == ClientCerts::Optional);
    }
    Ok(Some(tls))
}

/// How a gateway reaches its shards: TLS against `shard_tls_ca`, presenting its own
/// certificate, when that CA is set.
pub fn to_shards(config: &Config) -> anyhow::Result<Option<ClientTlsConfig>> {
    let Some(ca) = &config.shard_tls_ca else {
        return Ok(None);
    };
    let mut tls =
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(ca, "shard CA")?));
    if let Some(identity) = identity(config)? {
        tls = tls.identity(identity);
    }
    Ok(Some(tls))
}
