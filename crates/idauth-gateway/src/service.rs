//! The public gRPC services over one [`Gateway`], and the server that carries them
//! with health checking and reflection.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures_util::{Stream, StreamExt};
use idauth_core::ErrorCode;
use idauth_proto::convert;
use idauth_proto::status::{error_message, to_status};
use idauth_proto::v1;
use idauth_proto::v1::auth_server::{Auth, AuthServer};
use idauth_proto::v1::enrolment_server::{Enrolment, EnrolmentServer};
use idauth_proto::v1::operator_server::{Operator, OperatorServer};
use idauth_proto::v1::resident_server::{Resident, ResidentServer};
use idauth_proto::v1::{
    AuthHistoryRequest, AuthHistoryResponse, ClusterMapRequest, ClusterMapResponse,
    DeactivateRequest, Decision, EchoMessage, EnrolRequest, EnrolResponse, LockRequest,
    ServiceKeysRequest, ServiceKeysResponse, ShardEndpoint, ShardStatusRequest,
    ShardStatusResponse, UnlockRequest, UpdateBiometricsRequest, UpdateDemographicsRequest,
    UpdateResponse, VerifyRequest, VerifyResponse,
};
use prost::Message;
use tokio::net::TcpListener;
use tonic::transport::ServerTlsConfig;
use tonic::{Request, Response, Status, Streaming};

use crate::auth::{Caller, Guard, Operation, Presented};
use crate::envelope::{Binding, EnvelopeKeys};
use crate::error::GatewayError;
use crate::gateway::{Gateway, now_ms};
use crate::receipt::ReceiptSigner;
use idauth_shard::metrics::{Metrics, Stage};

/// Largest message tonic itself decodes. Requests between the gateway's own limit and
/// this one are refused with MESSAGE_TOO_LARGE and its detail; beyond it, tonic
/// refuses with RESOURCE_EXHAUSTED before the gateway sees the request.
pub const TRANSPORT_MESSAGE_LIMIT: usize = 4 * 1024 * 1024;

/// Verifies of one VerifyBatch stream decided concurrently (answers stay in order).
const BATCH_CONCURRENCY: usize = 16;

/// The public services over one gateway.
#[derive(Debug, Clone)]
pub struct PublicApi {
    gateway: Arc<Gateway>,
    guard: Arc<Guard>,
    envelopes: Arc<EnvelopeKeys>,
    receipts: Arc<ReceiptSigner>,
    metrics: Arc<Metrics>,
}

impl PublicApi {
    /// Serves `gateway`, admitting the callers `guard` knows, opening envelopes
    /// sealed to `envelopes` and signing verify receipts with `receipts`.
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
        }
    }

    /// The gateway's own figures (envelope opening, requests by outcome, verifies).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The gateway these services serve.
    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.gateway
    }

    /// The caller, if its credential allows `operation`.
    fn admit(&self, presented: &Presented, operation: Operation) -> Result<Caller, GatewayError> {
        self.guard.authorize(presented, operation, now_ms())
    }

    fn refused(&self, operation: &'static str, error: &GatewayError) -> Status {
        let code = error.code();
        self.metrics.outcome(operation, code.number());
        tracing::info!(operation, code = code.number(), %error, "request refused");
        to_status(code)
    }

    /// An enrolment-side call that carries no fingers: admitted, converted, applied,
    /// answered with a signed update response.
    async fn plain_update<M: Message>(
        &self,
        operation: &'static str,
        allowed_by: Operation,
        request: Request<M>,
        to_call: fn(M) -> Result<idauth_core::call::EnrolmentCall, convert::ConvertError>,
    ) -> Result<Response<UpdateResponse>, Status> {
        let (metadata, extensions, request) = request.into_parts();
        let presented = Presented::from_parts(&metadata, &extensions);
        let len = request.encoded_len();
        let prepare = move |_: &Self, _: &Caller| Ok(to_call(request)?);
        let (request_id, outcome, token) = self
            .write(operation, allowed_by, &presented, len, prepare)
            .await?;
        Ok(Response::new(
            self.update_response(request_id, outcome, token),
        ))
    }

    /// A signed update response.
    fn update_response(
        &self,
        request_id: String,
        outcome: idauth_core::command::WriteOutcome,
        token: String,
    ) -> UpdateResponse {
        let mut response = UpdateResponse {
            request_id,
            reference: outcome.reference,
            version: outcome.version,
            replayed: outcome.replayed,
            token,
            receipt: Vec::new(),
        };
        self.receipts.sign_update(&mut response);
        response
    }

    /// Moves the fingers of an envelope into `fingers`, or checks that the caller may
    /// send them in clear.
    fn open_probe(
        &self,
        caller: &Caller,
        fingers: &mut Vec<v1::Finger>,
        envelope: Option<v1::Envelope>,
        txn: &str,
        timestamp: Option<prost_types::Timestamp>,
    ) -> Result<(), GatewayError> {
        match envelope {
            Some(envelope) => {
                if !fingers.is_empty() {
                    return Err(GatewayError::Invalid {
                        code: ErrorCode::BadRequest,
                        reason: "fingers sent both in clear and in an envelope",
                    });
                }
                let timestamp = timestamp.map_or((0, 0), |t| (t.seconds, t.nanos));
                let binding = Binding { txn, timestamp };
                let opening = Instant::now();
                *fingers = self.envelopes.open(&envelope, binding, now_ms())?;
                self.metrics.stage_took(Stage::Decrypt, opening.elapsed());
                Ok(())
            }
            None if !fingers.is_empty() && !caller.credential.policy.plain_probes => {
                Err(GatewayError::Invalid {
                    code: ErrorCode::PlainProbeNotAllowed,
                    reason: "plain fingers from a caller that must encrypt them",
                })
            }
            None => Ok(()),
        }
    }

    async fn write(
        &self,
        operation: &'static str,
        allowed_by: Operation,
        presented: &Presented,
        encoded_len: usize,
        prepare: impl FnOnce(&Self, &Caller) -> Result<idauth_core::call::EnrolmentCall, GatewayError>,
    ) -> Result<(String, idauth_core::command::WriteOutcome, String), Status> {
        let started = Instant::now();
        let result = async {
            let caller = self.admit(presented, allowed_by)?;
            tracing::debug!(caller = caller.id(), operation, "admitted");
            crate::validate::check_size(encoded_len, self.gateway.limits())?;
            let call = prepare(self, &caller)?;
            let request_id = call.context.request_id.clone();
            let (outcome, token) = self.gateway.write(call, caller.id(), started).await?;
            self.metrics.outcome(operation, 0);
            Ok::<_, GatewayError>((request_id, outcome, token))
        }
        .await;
        result.map_err(|error| self.refused(operation, &error))
    }

    /// One verify, answered in-band: refusals become a NO_MATCH response carrying
    /// the error, so that a batch continues past a bad entry.
    async fn verify_in_band(
        &self,
        presented: &Presented,
        request: VerifyRequest,
    ) -> VerifyResponse {
        let txn = request.txn.clone();
        match self.verify_one(presented, request).await {
            Ok(response) => response,
            Err(code) => {
                let mut response = VerifyResponse {
                    txn,
                    decision: Decision::NoMatch.into(),
                    reference: String::new(),
                    factors: Vec::new(),
                    error: Some(error_message(code)),
                    timestamp: Some(convert::timestamp(now_ms())),
                    token: String::new(),
                    receipt: Vec::new(),
                };
                self.receipts.sign(&mut response);
                response
            }
        }
    }

    async fn verify_one(
        &self,
        presented: &Presented,
        request: VerifyRequest,
    ) -> Result<VerifyResponse, ErrorCode> {
        let started = Instant::now();
        let encoded_len = request.encoded_len();
        let result = async {
            let caller = self.admit(presented, Operation::Verify)?;
            crate::validate::check_size(encoded_len, self.gateway.limits())?;
            let mut request = request;
            let envelope = request.envelope.take();
            let txn = request.txn.clone();
            self.open_probe(
                &caller,
                &mut request.fingers,
                envelope,
                &txn,
                request.timestamp,
            )?;
            let call = convert::verify_call(request).map_err(|(_, error)| error)?;
            for factor in idauth_core::Factor::used_by(!call.fingers.is_empty(), &call.demographics)
            {
                caller.check_factor(factor)?;
            }
            let txn = call.txn.clone();
            let (outcome, token) = self.gateway.verify(call, caller.id(), started).await?;
            let mut response = convert::verify_response(txn, &outcome, token, now_ms());
            self.receipts.sign(&mut response);
            Ok::<_, GatewayError>(response)
        }
        .await;
        self.metrics.verify_took(started.elapsed());
        let code = match &result {
            Ok(response) => response.error.as_ref().map_or(0, |e| e.code as u16),
            Err(error) => error.code().number(),
        };
        self.metrics.outcome("verify", code);
        result.map_err(|error| {
            tracing::info!(operation = "verify", code = error.code().number(), %error, "request refused");
            error.code()
        })
    }
}

#[tonic::async_trait]
impl Enrolment for PublicApi {
    async fn enrol(
        &self,
        request: Request<EnrolRequest>,
    ) -> Result<Response<EnrolResponse>, Status> {
        let (metadata, extensions, mut request) = request.into_parts();
        let presented = Presented::from_parts(&metadata, &extensions);
        let len = request.encoded_len();
        let prepare = move |api: &Self, caller: &Caller| {
            let (txn, timestamp) = context_binding(request.context.as_ref());
            let envelope = request.envelope.take();
            api.open_probe(caller, &mut request.fingers, envelope, &txn, timestamp)?;
            Ok(convert::enrol_call(request)?)
        };
        let (request_id, outcome, token) = self
            .write("enrol", Operation::Enrol, &presented, len, prepare)
            .await?;
        let mut response = EnrolResponse {
            request_id,
            reference: outcome.reference,
            version: outcome.version,
            replayed: outcome.replayed,
            token,
            receipt: Vec::new(),
        };
        self.receipts.sign_enrol(&mut response);
        Ok(Response::new(response))
    }

    async fn update_biometrics(
        &self,
        request: Request<UpdateBiometricsRequest>,
    ) -> Result<Response<UpdateResponse>, Status> {
        let (metadata, extensions, mut request) = request.into_parts();
        let presented = Presented::from_parts(&metadata, &extensions);
        let len = request.encoded_len();
        let prepare = move |api: &Self, caller: &Caller| {
            let (txn, timestamp) = context_binding(request.context.as_ref());
            let envelope = request.envelope.take();
            api.open_probe(caller, &mut request.fingers, envelope, &txn, timestamp)?;
            Ok(convert::update_biometrics_call(request)?)
        };
        let (request_id, outcome, token) = self
            .write(
                "update_biometrics",
                Operation::Enrol,
                &presented,
                len,
                prepare,
            )
            .await?;
        Ok(Response::new(
            self.update_response(request_id, outcome, token),
        ))
    }

    async fn update_demographics(
        &self,
        request: Request<UpdateDemographicsRequest>,
    ) -> Result<Response<UpdateResponse>, Status> {
        self.plain_update(
            "update_demographics",
            Operation::Enrol,
            request,
            convert::update_demographics_call,
        )
        .await
    }

    async fn deactivate(
        &self,
        request: Request<DeactivateRequest>,
    ) -> Result<Response<UpdateResponse>, Status> {
        self.plain_update(
            "deactivate",
            Operation::Enrol,
            request,
            convert::deactivate_call,
        )
        .await
    }
}

#[tonic::async_trait]
impl Resident for PublicApi {
    async fn lock_biometrics(
        &self,
        request: Request<LockRequest>,
    ) -> Result<Response<UpdateResponse>, Status> {
        self.plain_update(
            "lock_biometrics",
            Operation::History,
            request,
            convert::lock_call,
        )
        .await
    }

    async fn unlock_biometrics(
        &self,
        request: Request<UnlockRequest>,
    ) -> Result<Response<UpdateResponse>, Status> {
        self.plain_update(
            "unlock_biometrics",
            Operation::History,
            request,
            convert::unlock_call,
        )
        .await
    }

    async fn auth_history(
        &self,
        request: Request<AuthHistoryRequest>,
    ) -> Result<Response<AuthHistoryResponse>, Status> {
        let started = Instant::now();
        let answer = async {
            let caller = self.admit(&Presented::of(&request), Operation::History)?;
            let call = convert::auth_history_call(request.into_inner())?;
            self.gateway.history(call, caller.id(), started).await
        };
        match answer.await {
            Ok((page, token)) => Ok(Response::new(convert::auth_history_response(&page, token))),
            Err(error) => Err(self.refused("auth_history", &error)),
        }
    }
}

/// What an enrolment-side envelope is bound to: the request id and timestamp.
fn context_binding(
    context: Option<&v1::EnrolmentContext>,
) -> (String, Option<prost_types::Timestamp>) {
    context.map_or((String::new(), None), |c| {
        (c.request_id.clone(), c.timestamp)
    })
}

/// The stream of answers to a VerifyBatch.
type VerifyStream = Pin<Box<dyn Stream<Item = Result<VerifyResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Auth for PublicApi {
    async fn verify(
        &self,
        request: Request<VerifyRequest>,
    ) -> Result<Response<VerifyResponse>, Status> {
        let presented = Presented::of(&request);
        self.verify_one(&presented, request.into_inner())
            .await
            .map(Response::new)
            .map_err(to_status)
    }

    async fn service_keys(
        &self,
        request: Request<ServiceKeysRequest>,
    ) -> Result<Response<ServiceKeysResponse>, Status> {
        self.guard
            .authenticate(&Presented::of(&request), now_ms())
            .map_err(|error| self.refused("service_keys", &error))?;
        Ok(Response::new(ServiceKeysResponse {
            envelope_keys: self.envelopes.public_keys(now_ms()),
            receipt_public_key: self.receipts.public_key().to_vec(),
        }))
    }

    type VerifyBatchStream = VerifyStream;

    async fn verify_batch(
        &self,
        request: Request<Streaming<VerifyRequest>>,
    ) -> Result<Response<Self::VerifyBatchStream>, Status> {
        let presented = Arc::new(Presented::of(&request));
        // Refuse the stream itself when the caller may not verify at all; each item
        // is admitted again (quota, expiry) as it arrives.
        self.admit(&presented, Operation::Verify)
            .map_err(|error| to_status(error.code()))?;
        let api = self.clone();
        let stream = request.into_inner();
        let answers = stream
            .map(move |item| {
                let api = api.clone();
                let presented = Arc::clone(&presented);
                async move {
                    match item {
                        Ok(request) => Ok(api.verify_in_band(&presented, request).await),
                        Err(status) => Err(status),
                    }
                }
            })
            .buffered(BATCH_CONCURRENCY);
        Ok(Response::new(Box::pin(answers)))
    }
}

#[tonic::async_trait]
impl Operator for PublicApi {
    async fn shard_status(
        &self,
        request: Request<ShardStatusRequest>,
    ) -> Result<Response<ShardStatusResponse>, Status> {
        self.admit(&Presented::of(&request), Operation::Operator)
            .map_err(|error| self.refused("shard_status", &error))?;
        let shards = self
            .gateway
            .status()
            .await
            .iter()
            .map(|(id, report)| convert::shard_state(report.as_ref(), id))
            .collect();
        Ok(Response::new(ShardStatusResponse {
            shards,
            gateway_stages: self
                .metrics
                .snapshot()
                .stages
                .iter()
                .map(convert::stage_time_to_wire)
                .collect(),
        }))
    }

    async fn echo(&self, request: Request<EchoMessage>) -> Result<Response<EchoMessage>, Status> {
        self.admit(&Presented::of(&request), Operation::Operator)
            .map_err(|error| self.refused("echo", &error))?;
        Ok(Response::new(request.into_inner()))
    }

    async fn cluster_map(
        &self,
        request: Request<ClusterMapRequest>,
    ) -> Result<Response<ClusterMapResponse>, Status> {
        self.admit(&Presented::of(&request), Operation::Operator)
            .map_err(|error| self.refused("cluster_map", &error))?;
        let shards = self
            .gateway
            .cluster_map()
            .into_iter()
            .map(|(shard_id, address)| ShardEndpoint { shard_id, address })
            .collect();
        Ok(Response::new(ClusterMapResponse {
            shards,
            routing: "rendezvous: owner = argmax over shards of BLAKE3(storage key || shard id)[0..8] as u64 LE".into(),
        }))
    }
}

/// Accepted connections with Nagle's algorithm off: a small response must not wait
/// for the peer's delayed acknowledgement (40 ms on Linux).
pub fn incoming(listener: TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))
}

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
        .register_encoded_file_descriptor_set(idauth_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .expect("the compiled descriptor sets are valid");
    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        server = server.tls_config(tls)?;
    }
    server
        .add_service(health)
        .add_service(reflection)
        .add_service(
            EnrolmentServer::new(api.clone()).max_decoding_message_size(TRANSPORT_MESSAGE_LIMIT),
        )
        .add_service(
            AuthServer::new(api.clone()).max_decoding_message_size(TRANSPORT_MESSAGE_LIMIT),
        )
        .add_service(ResidentServer::new(api.clone()))
        .add_service(OperatorServer::new(api).max_decoding_message_size(TRANSPORT_MESSAGE_LIMIT))
        .serve_with_incoming_shutdown(incoming(listener), shutdown)
        .await
}
