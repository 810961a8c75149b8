//! `idauth.v1.Enrolment`: Enrol, UpdateBiometrics, UpdateDemographics, Deactivate;
//! and the write path the resident's lock calls share.

use idauth_core::FingerSample;
use idauth_core::call::{EnrolmentAction, EnrolmentCall};
use idauth_core::command::WriteOutcome;
use idauth_proto::convert::{self, ConvertError};
use idauth_proto::v1;
use idauth_proto::v1::enrolment_server::Enrolment;
use idauth_proto::v1::{
    DeactivateRequest, EnrolRequest, EnrolResponse, UpdateBiometricsRequest,
    UpdateDemographicsRequest, UpdateResponse,
};
use prost::Message;
use tonic::{Request, Response, Status};

use super::admission::{Admitted, Counted, Rpc};
use super::{PublicApi, binding};
use crate::auth::{Caller, Operation, Presented};
use crate::error::GatewayError;

const ENROL: Rpc = Rpc::carrying("enrol", Operation::Enrol);
const UPDATE_BIOMETRICS: Rpc = Rpc::carrying("update_biometrics", Operation::Enrol);
const UPDATE_DEMOGRAPHICS: Rpc = Rpc::carrying("update_demographics", Operation::Enrol);
const DEACTIVATE: Rpc = Rpc::carrying("deactivate", Operation::Enrol);

impl Counted for EnrolResponse {}
impl Counted for UpdateResponse {}

/// A write request's idempotency context, whose request id names the call in logs
/// and binds its envelope.
pub(super) trait WithContext: Message + Sized {
    /// The context as sent.
    fn context(&self) -> Option<&v1::EnrolmentContext>;
}

macro_rules! with_context {
    ($($message:ty),*) => {
        $(impl WithContext for $message {
            fn context(&self) -> Option<&v1::EnrolmentContext> {
                self.context.as_ref()
            }
        })*
    };
}

with_context!(
    EnrolRequest,
    UpdateBiometricsRequest,
    UpdateDemographicsRequest,
    DeactivateRequest,
    v1::LockRequest,
    v1::UnlockRequest
);

/// A write's answer before it is signed: request id, outcome and the caller's token.
pub(super) struct Written {
    request_id: String,
    outcome: WriteOutcome,
    token: String,
}

impl Counted for Written {}

impl PublicApi {
    /// An admitted write: `prepare` turns the request into a call (opening its
    /// envelope where it has one), the owning shard applies it.
    async fn write<M: WithContext>(
        &self,
        rpc: Rpc,
        request: Request<M>,
        prepare: impl FnOnce(&Self, &Caller, M) -> Result<EnrolmentCall, GatewayError>,
    ) -> Result<Written, Status> {
        let (metadata, extensions, request) = request.into_parts();
        let presented = Presented::from_parts(&metadata, &extensions);
        let encoded_len = request.encoded_len();
        let request_id = request
            .context()
            .map(|c| c.request_id.clone())
            .unwrap_or_default();
        self.admitted(
            rpc,
            &presented,
            encoded_len,
            &request_id,
            |admitted| async move {
                let Admitted { caller, started } = admitted;
                let call = prepare(self, &caller, request)?;
                let request_id = call.context.request_id.clone();
                let (outcome, token) = self.gateway.write(call, caller.id(), started).await?;
                Ok(Written {
                    request_id,
                    outcome,
                    token,
                })
            },
        )
        .await
        .map_err(|error| idauth_proto::status::to_status(error.code()))
    }

    /// A write that carries no fingers, answered with a signed update response.
    pub(super) async fn plain_update<M: WithContext>(
        &self,
        rpc: Rpc,
        request: Request<M>,
        to_call: fn(M) -> Result<EnrolmentCall, ConvertError>,
    ) -> Result<Response<UpdateResponse>, Status> {
        let written = self
            .write(rpc, request, |_, _, request| Ok(to_call(request)?))
            .await?;
        Ok(Response::new(self.update_response(written)))
    }

    /// A signed update response.
    fn update_response(&self, written: Written) -> UpdateResponse {
        let Written {
            request_id,
            outcome,
            token,
        } = written;
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

    /// The call of a write that carries fingers: its envelope opened, or the fingers
    /// sent in clear (which the caller's policy must allow), then `to_call`.
    fn call_with_fingers<M: WithFingers>(
        &self,
        caller: &Caller,
        mut request: M,
        to_call: fn(M) -> Result<EnrolmentCall, ConvertError>,
    ) -> Result<EnrolmentCall, GatewayError> {
        let envelope = request.take_envelope();
        let (request_id, timestamp) = request.context().map_or(("", None), |c| {
            (c.request_id.as_str(), c.timestamp.as_ref())
        });
        let opened = self.open_probe(
            caller,
            request.clear_fingers(),
            envelope,
            binding(request_id, timestamp),
        )?;
        Ok(with_fingers(to_call(request)?, opened))
    }
}

/// A write request that carries fingers, in clear or in an envelope.
trait WithFingers: WithContext {
    /// Takes the envelope out, so that the conversion sees only clear fingers.
    fn take_envelope(&mut self) -> Option<v1::Envelope>;
    /// The fingers sent in clear.
    fn clear_fingers(&self) -> &[v1::Finger];
}

macro_rules! with_fingers {
    ($($message:ty),*) => {
        $(impl WithFingers for $message {
            fn take_envelope(&mut self) -> Option<v1::Envelope> {
                self.envelope.take()
            }
            fn clear_fingers(&self) -> &[v1::Finger] {
                &self.fingers
            }
        })*
    };
}

with_fingers!(EnrolRequest, UpdateBiometricsRequest);

/// Puts opened fingers in place of the (empty) clear ones.
fn with_fingers(mut call: EnrolmentCall, opened: Option<Vec<FingerSample>>) -> EnrolmentCall {
    if let Some(opened) = opened {
        match &mut call.action {
            EnrolmentAction::Enrol { fingers, .. }
            | EnrolmentAction::UpdateBiometrics { fingers } => *fingers = opened,
            EnrolmentAction::UpdateDemographics { .. }
            | EnrolmentAction::Deactivate
            | EnrolmentAction::LockBiometrics
            | EnrolmentAction::UnlockBiometrics { .. } => {}
        }
    }
    call
}

#[tonic::async_trait]
impl Enrolment for PublicApi {
    async fn enrol(
        &self,
        request: Request<EnrolRequest>,
    ) -> Result<Response<EnrolResponse>, Status> {
        let written = self
            .write(ENROL, request, |api, caller, request| {
                api.call_with_fingers(caller, request, convert::enrol_call)
            })
            .await?;
        let Written {
            request_id,
            outcome,
            token,
        } = written;
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
        let written = self
            .write(UPDATE_BIOMETRICS, request, |api, caller, request| {
                api.call_with_fingers(caller, request, convert::update_biometrics_call)
            })
            .await?;
        Ok(Response::new(self.update_response(written)))
    }

    async fn update_demographics(
        &self,
        request: Request<UpdateDemographicsRequest>,
    ) -> Result<Response<UpdateResponse>, Status> {
        self.plain_update(
            UPDATE_DEMOGRAPHICS,
            request,
            convert::update_demographics_call,
        )
        .await
    }

    async fn deactivate(
        &self,
        request: Request<DeactivateRequest>,
    ) -> Result<Response<UpdateResponse>, Status> {
        self.plain_update(DEACTIVATE, request, convert::deactivate_call)
            .await
    }
}
