//! `idauth.v1.Auth`: Verify, VerifyBatch and ServiceKeys.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures_util::{Stream, StreamExt};
use idauth_core::ErrorCode;
use idauth_proto::convert;
use idauth_proto::status::{error_message, to_status};
use idauth_proto::v1::auth_server::Auth;
use idauth_proto::v1::{
    Decision, ServiceKeysRequest, ServiceKeysResponse, VerifyRequest, VerifyResponse,
};
use prost::Message;
use tonic::{Request, Response, Status, Streaming};

use super::admission::{Admitted, Counted, Rpc};
use super::caller_faults::caller_fault;
use super::{PublicApi, binding};
use crate::auth::{Operation, Presented};
use crate::error::GatewayError;
use crate::gateway::now_ms;

/// Verifies of one VerifyBatch stream decided concurrently (answers stay in order).
const BATCH_CONCURRENCY: usize = 16;

const VERIFY: Rpc = Rpc::carrying("verify", Operation::Verify);
const VERIFY_BATCH: Rpc = Rpc::small("verify_batch", Some(Operation::Verify));
const SERVICE_KEYS: Rpc = Rpc::small("service_keys", None);

impl Counted for () {}
impl Counted for ServiceKeysResponse {}

impl PublicApi {
    /// One verify, admitted and timed.
    async fn verify_one(
        &self,
        presented: &Presented,
        request: VerifyRequest,
    ) -> Result<VerifyResponse, GatewayError> {
        let arrived = Instant::now();
        let encoded_len = request.encoded_len();
        let txn = request.txn.clone();
        let result = self
            .admitted(VERIFY, presented, encoded_len, &txn, |admitted| {
                self.decide(admitted, request)
            })
            .await;
        self.metrics.verify_took(arrived.elapsed());
        result
    }

    /// An admitted verify: fingers opened, request converted, factors checked against
    /// the policy, the owning shard's answer signed.
    async fn decide(
        &self,
        admitted: Admitted,
        mut request: VerifyRequest,
    ) -> Result<VerifyResponse, GatewayError> {
        let Admitted { caller, started } = admitted;
        let envelope = request.envelope.take();
        let bound = binding(&request.txn, request.timestamp.as_ref());
        let opened = self.open_probe(&caller, &request.fingers, envelope, bound)?;
        let mut call = convert::verify_call(request).map_err(|(_, error)| error)?;
        if let Some(fingers) = opened {
            call.fingers = fingers;
        }
        for factor in idauth_core::Factor::used_by(!call.fingers.is_empty(), &call.demographics) {
            caller.check_factor(factor)?;
        }
        let txn = call.txn.clone();
        let (outcome, token) = self.gateway.verify(call, caller.id(), started).await?;
        let mut response = convert::verify_response(txn, &outcome, token, now_ms());
        self.receipts.sign(&mut response);
        Ok(response)
    }

    /// One verify of a batch, answered in-band: a refusal becomes a signed NO_MATCH
    /// response carrying the error, so that the batch continues past a bad entry.
    async fn verify_in_band(
        &self,
        presented: &Presented,
        request: VerifyRequest,
    ) -> VerifyResponse {
        let txn = request.txn.clone();
        match self.verify_one(presented, request).await {
            Ok(response) => response,
            Err(error) => {
                let mut response = VerifyResponse {
                    txn,
                    decision: Decision::NoMatch.into(),
                    reference: String::new(),
                    factors: Vec::new(),
                    error: Some(error_message(error.code())),
                    timestamp: Some(convert::timestamp(now_ms())),
                    token: String::new(),
                    receipt: Vec::new(),
                };
                self.receipts.sign(&mut response);
                response
            }
        }
    }
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
            .map_err(|error| to_status(error.code()))
    }

    async fn service_keys(
        &self,
        request: Request<ServiceKeysRequest>,
    ) -> Result<Response<ServiceKeysResponse>, Status> {
        let presented = Presented::of(&request);
        let answer = self
            .admitted(SERVICE_KEYS, &presented, 0, "", |_| async {
                Ok(ServiceKeysResponse {
                    envelope_keys: self.envelopes.public_keys(now_ms()),
                    receipt_public_key: self.receipts.public_key().to_vec(),
                })
            })
            .await;
        answer
            .map(Response::new)
            .map_err(|error| to_status(error.code()))
    }

    type VerifyBatchStream = VerifyStream;

    async fn verify_batch(
        &self,
        request: Request<Streaming<VerifyRequest>>,
    ) -> Result<Response<Self::VerifyBatchStream>, Status> {
        let presented = Arc::new(Presented::of(&request));
        // Refuse the stream itself when the caller may not verify at all; each item
        // is admitted again (quota, expiry) as it arrives.
        self.admitted(VERIFY_BATCH, &presented, 0, "", |_| async { Ok(()) })
            .await
            .map_err(|error| to_status(error.code()))?;
        let api = self.clone();
        // A stream that sends nothing for the idle limit is ended with STREAM_IDLE, so
        // a client that opens batches and never finishes them holds nothing for long.
        let idle = tokio_stream::StreamExt::timeout(
            request.into_inner(),
            self.gateway.limits().batch_idle,
        );
        let inbound = Box::pin(idle).scan(false, |ended, item| {
            let next = match item {
                _ if *ended => None,
                Ok(item) => Some(item),
                Err(_elapsed) => {
                    *ended = true;
                    Some(Err(to_status(ErrorCode::StreamIdle)))
                }
            };
            std::future::ready(next)
        });
        let answers = inbound
            .map(move |item| {
                let api = api.clone();
                let presented = Arc::clone(&presented);
                async move {
                    match item {
                        Ok(request) => Ok(api.verify_in_band(&presented, request).await),
                        Err(status) => Err(caller_fault(&status).map_or(status, to_status)),
                    }
                }
            })
            .buffered(BATCH_CONCURRENCY);
        Ok(Response::new(Box::pin(answers)))
    }
}
