//! One connection to the gateway, presenting the caller's credential on every call.

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::ClientError;

/// How the caller proves who it is.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// An API key, sent as `authorization: Bearer <key>` on every call.
    ApiKey(String),
    /// The client certificate of [`Tls::identity`] alone (mTLS); no header is sent.
    Certificate,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
            Self::Certificate => f.write_str("Certificate"),
        }
    }
}

/// TLS towards an `https://` gateway, from PEM bytes.
#[derive(Clone, Default)]
pub struct Tls {
    /// The CA certificate the server's certificate must chain to.
    pub ca_pem: Vec<u8>,
    /// The client certificate and its private key, when the caller presents one.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("ca_pem_bytes", &self.ca_pem.len())
            .field("identity", &self.identity.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Tls {
    fn config(&self) -> ClientTlsConfig {
        let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&self.ca_pem));
        if let Some((cert, key)) = &self.identity {
            tls = tls.identity(Identity::from_pem(cert, key));
        }
        tls
    }
}

/// Adds the caller's API key, when it has one, to every call.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bearer(<redacted>)")
    }
}

impl Bearer {
    /// The header for `credential`.
    pub fn new(credential: &Credential) -> Result<Self, ClientError> {
        match credential {
            Credential::ApiKey(key) => {
                let mut value: MetadataValue<Ascii> = format!("Bearer {}", key.trim())
                    .parse()
                    .map_err(|_| ClientError::ApiKey)?;
                value.set_sensitive(true);
                Ok(Self(Some(value)))
            }
            Credential::Certificate => Ok(Self(None)),
        }
    }
}

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

/// A channel that presents the caller's credential; the generated service clients
/// (`v1::auth_client::AuthClient::new(channel)`, ...) take it.
pub type Authenticated = InterceptedService<Channel, Bearer>;

/// Connects to `server` (`http://host:port`, or `https://` with `tls`).
pub(crate) async fn channel(
    server: &str,
    credential: &Credential,
    tls: Option<&Tls>,
) -> Result<Authenticated, ClientError> {
    let bearer = Bearer::new(credential)?;
    let mut endpoint =
        Endpoint::from_shared(server.to_owned()).map_err(|source| ClientError::Address {
            server: server.to_owned(),
            source,
        })?;
    if let Some(tls) = tls {
        endpoint = endpoint
            .tls_config(tls.config())
            .map_err(ClientError::Tls)?;
    }
    let channel = endpoint
        .connect()
        .await
        .map_err(|source| ClientError::Connect {
            server: server.to_owned(),
            source,
        })?;
    Ok(InterceptedService::new(channel, bearer))
}
