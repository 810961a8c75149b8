//! The public gRPC services over one [`Gateway`], one file per service, and the server
//! that carries them with health checking and reflection. Every handler goes through
//! [`PublicApi::admitted`](admission) before it does anything.

mod admission;
mod auth;
pub mod caller_faults;
mod enrolment;
pub mod in_flight;
mod operator;
mod resident;

use std::sync::Arc;
use std::time::Instant;

use idauth_client::envelope::Binding;
use idauth_core::metrics::{Metrics, Stage};
use idauth_core::{ErrorCode, FingerSample};
use idauth_proto::v1;
use idauth_proto::v1::auth_server::AuthServer;
use idauth_proto::v1::enrolment_server::EnrolmentServer;
use idauth_proto::v1::operator_server::OperatorServer;
use idauth_proto::v1::resident_server::ResidentServer;
use tokio::net::TcpListener;
use tonic::transport::ServerTlsConfig;

use self::caller_faults::CallerFaults;
use self::in_flight::InFlight;
use crate::auth::{Caller, Guard};
use crate::envelope::EnvelopeKeys;
use crate::error::GatewayError;
use crate::gateway::{Gateway, now_ms};
use crate::receipt::ReceiptSigner;

/// Largest message tonic itself decodes. Requests between the gateway's own limit and
/// this one are refused by the gateway with MESSAGE_TOO_LARGE; beyond it tonic refuses
/// them before the gateway sees them, and [`caller_faults`] gives that refusal the
/// same MESSAGE_TOO_LARGE.
pub const TRANSPORT_MESSAGE_LIMIT: usize = 4 * 1024 * 1024;

/// The public services over one gateway.
#[derive(Debug, Clone)]
pub struct PublicApi {
    gateway: Arc<Gateway>,
    guard: Arc<Guard>,
    envelopes: Arc<EnvelopeKeys>,
    receipts: Arc<ReceiptSigner>,
    metrics: Arc<Metrics>,
    in_flight: Arc<InFlight>,
}

impl PublicApi {
    /// Serves `gateway`, admitting the callers `guard` knows, opening envelopes
    /// sealed to `envelopes` and signing receipts with `receipts`.
    pub fn new(
        gateway: Arc<Gateway>,
        guard: Arc<Guard>,
        envelopes: Arc<EnvelopeKeys>,
        receipts: Arc<ReceiptSigner>,
    ) -> Self {
        Self {
            gateway,
            guard,
            envelopes,
            receipts,
            metrics: Arc::new(Metrics::default()),
            in_flight: Arc::new(InFlight::per_core()),
        }
    }

    /// The same services admitting at most `limit` requests in flight (see
    /// [`in_flight`]); the default is [`in_flight::IN_FLIGHT_PER_CORE`] per core.
    pub fn with_in_flight_limit(mut self, limit: usize) -> Self {
        self.in_flight = Arc::new(InFlight::new(limit));
        self
    }

    /// The gateway's own figures (envelope opening, requests by outcome, verifies).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The gateway these services serve.
    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.gateway
    }

    /// The fingers of a request: opened from its envelope (`Some`), or `None` when it
    /// has none and the fingers sent in clear stand, which the caller's policy must
    /// allow.
    fn open_probe(
        &self,
        caller: &Caller,
        clear: &[v1::Finger],
        envelope: Option<v1::Envelope>,
        binding: Binding<'_>,
    ) -> Result<Option<Vec<FingerSample>>, GatewayError> {
        match envelope {
            Some(envelope) => {
                if !clear.is_empty() {
                    return Err(GatewayError::Invalid {
                        code: ErrorCode::BadRequest,
                        reason: "fingers sent both in clear and in an envelope",
                    });
                }
                let opening = Instant::now();
                let fingers = self.envelopes.open(&envelope, binding, now_ms())?;
                self.metrics.stage_took(Stage::Decrypt, opening.elapsed());
                Ok(Some(fingers))
            }
            None if !clear.is_empty() && !caller.credential.policy.plain_probes => {
                Err(GatewayError::Invalid {
                    code: ErrorCode::PlainProbeNotAllowed,
                    reason: "plain fingers from a caller that must encrypt them",
                })
            }
            None => Ok(None),
        }
    }
}

/// The binding of a request with this txn (or request id) and optional timestamp.
fn binding<'a>(txn: &'a str, timestamp: Option<&prost_types::Timestamp>) -> Binding<'a> {
    Binding {
        txn,
        timestamp: timestamp.map_or((0, 0), |t| (t.seconds, t.nanos)),
    }
}

/// Accepted connections with Nagle's algorithm off: a small response must not wait
/// for the peer's delayed acknowledgement (40 ms on Linux).
pub fn incoming(listener: TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// Streams one connection may have open at once: past it the client's further calls
/// wait in its own queue, so one connection cannot tie up the server's tasks.
pub const MAX_STREAMS_PER_CONNECTION: u32 = 64;
/// How often an idle connection is pinged, and how long the pong may take before the
/// connection is closed: a client that vanished (no FIN) holds nothing for long.
pub const KEEPALIVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(20);
/// See [`KEEPALIVE_INTERVAL`].
pub const KEEPALIVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// The longest any call may take to be answered, whatever deadline its client set (or
/// none): a client that starts a request and never finishes sending it is cut off.
/// VerifyBatch streams are bounded by their idle limit instead.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Serves the public API, health checking and reflection on `listener` (over TLS
/// when `tls` is given) until `shutdown` completes. Every idauth RPC requires a
/// credential `guard` accepts; health checking and reflection do not (probes and
/// grpcurl need them, and they reveal nothing about residents).
pub async fn serve(
    api: PublicApi,
    listener: TcpListener,
    tls: Option<ServerTlsConfig>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<EnrolmentServer<PublicApi>>()
        .await;
    health_reporter.set_serving::<AuthServer<PublicApi>>().await;
    health_reporter
        .set_serving::<OperatorServer<PublicApi>>()
        .await;
    health_reporter
        .set_serving::<ResidentServer<PublicApi>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(idauth_proto::PUBLIC_FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .expect("the compiled descriptor sets are valid");
    let mut server = tonic::transport::Server::builder()
        .max_concurrent_streams(Some(MAX_STREAMS_PER_CONNECTION))
        .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        .timeout(REQUEST_TIMEOUT);
    if let Some(tls) = tls {
        server = server.tls_config(tls)?;
    }
    server
        .add_service(health)
        .add_service(reflection)
        .add_service(CallerFaults(
            EnrolmentServer::new(api.clone()).max_decoding_message_size(TRANSPORT_MESSAGE_LIMIT),
        ))
        .add_service(CallerFaults(
            AuthServer::new(api.clone()).max_decoding_message_size(TRANSPORT_MESSAGE_LIMIT),
        ))
        .add_service(CallerFaults(
            ResidentServer::new(api.clone()).max_decoding_message_size(TRANSPORT_MESSAGE_LIMIT),
        ))
        .add_service(CallerFaults(
            OperatorServer::new(api).max_decoding_message_size(TRANSPORT_MESSAGE_LIMIT),
        ))
        .serve_with_incoming_shutdown(incoming(listener), shutdown)
        .await
}
