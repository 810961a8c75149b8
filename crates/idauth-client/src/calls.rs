//! The calls of the public API, each returning the answer or a [`ClientError`].

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use idauth_core::ErrorCode;
use idauth_proto::v1;
use idauth_proto::v1::auth_client::AuthClient;
use idauth_proto::v1::enrolment_client::EnrolmentClient;
use idauth_proto::v1::operator_client::OperatorClient;
use idauth_proto::v1::resident_client::ResidentClient;

use crate::connect::{self, Authenticated, Credential, Tls};
use crate::throttle::Throttle;
use crate::{ClientError, ServiceKeys, ThrottleSettings};

/// A connection to the gateway. Cloning it is cheap and shares the connection (and
/// the throttle's counts), so one client serves many concurrent calls.
#[derive(Debug, Clone)]
pub struct Client {
    channel: Authenticated,
    throttle: Option<Arc<Throttle>>,
}

impl Client {
    /// Connects to `server` (`http://host:port`; `https://` needs `tls`), presenting
    /// `credential` on every call, with adaptive throttling at its default settings.
    pub async fn connect(
        server: &str,
        credential: &Credential,
        tls: Option<&Tls>,
    ) -> Result<Self, ClientError> {
        Ok(Self {
            channel: connect::channel(server, credential, tls).await?,
            throttle: Some(Arc::new(Throttle::new(ThrottleSettings::default()))),
        })
    }

    /// The same connection with other throttle settings (`None`: every call is sent,
    /// whatever the service has been answering), and counts of its own.
    #[must_use]
    pub fn with_throttle(&self, settings: Option<ThrottleSettings>) -> Self {
        Self {
            channel: self.channel.clone(),
            throttle: settings.map(|s| Arc::new(Throttle::new(s))),
        }
    }

    /// Runs `call` unless the throttle refuses it, and counts the service's answer.
    async fn guarded<T>(
        &self,
        call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, ClientError> {
        let Some(throttle) = &self.throttle else {
            return Ok(call.await?.into_inner());
        };
        throttle
            .admit(Instant::now())
            .map_err(|retry_after| ClientError::Throttled { retry_after })?;
        let answer = call.await.map_err(ClientError::from);
        let overloaded = match &answer {
            Err(error) if error.code() == Some(ErrorCode::Overloaded) => Some(error.retry_after()),
            _ => None,
        };
        throttle.record(Instant::now(), overloaded);
        Ok(answer?.into_inner())
    }

    /// The authenticated channel, for the generated service clients of calls this type
    /// does not wrap (the `VerifyBatch` stream, health, reflection).
    pub fn channel(&self) -> Authenticated {
        self.channel.clone()
    }

    /// The service's current envelope key and its receipt key.
    pub async fn service_keys(&self) -> Result<ServiceKeys, ClientError> {
        let response = AuthClient::new(self.channel())
            .service_keys(v1::ServiceKeysRequest {})
            .await?;
        ServiceKeys::try_from(response.into_inner())
    }

    /// `Auth.Verify`. A NO_MATCH is an answer, not an error; check its receipt with
    /// [`ServiceKeys::verify_receipt`].
    pub async fn verify(
        &self,
        request: v1::VerifyRequest,
    ) -> Result<v1::VerifyResponse, ClientError> {
        self.guarded(AuthClient::new(self.channel()).verify(request))
            .await
    }

    /// `Enrolment.Enrol`; a resend of the same request id answers `replayed`.
    pub async fn enrol(&self, request: v1::EnrolRequest) -> Result<v1::EnrolResponse, ClientError> {
        self.guarded(EnrolmentClient::new(self.channel()).enrol(request))
            .await
    }

    /// `Enrolment.UpdateBiometrics`.
    pub async fn update_biometrics(
        &self,
        request: v1::UpdateBiometricsRequest,
    ) -> Result<v1::UpdateResponse, ClientError> {
        self.guarded(EnrolmentClient::new(self.channel()).update_biometrics(request))
            .await
    }

    /// `Enrolment.UpdateDemographics`.
    pub async fn update_demographics(
        &self,
        request: v1::UpdateDemographicsRequest,
    ) -> Result<v1::UpdateResponse, ClientError> {
        self.guarded(EnrolmentClient::new(self.channel()).update_demographics(request))
            .await
    }

    /// `Enrolment.Deactivate`.
    pub async fn deactivate(
        &self,
        request: v1::DeactivateRequest,
    ) -> Result<v1::UpdateResponse, ClientError> {
        self.guarded(EnrolmentClient::new(self.channel()).deactivate(request))
            .await
    }

    /// `Resident.LockBiometrics`.
    pub async fn lock_biometrics(
        &self,
        request: v1::LockRequest,
    ) -> Result<v1::UpdateResponse, ClientError> {
        self.guarded(ResidentClient::new(self.channel()).lock_biometrics(request))
            .await
    }

    /// `Resident.UnlockBiometrics`.
    pub async fn unlock_biometrics(
        &self,
        request: v1::UnlockRequest,
    ) -> Result<v1::UpdateResponse, ClientError> {
        self.guarded(ResidentClient::new(self.channel()).unlock_biometrics(request))
            .await
    }

    /// `Resident.AuthHistory`: one page.
    pub async fn auth_history(
        &self,
        request: v1::AuthHistoryRequest,
    ) -> Result<v1::AuthHistoryResponse, ClientError> {
        self.guarded(ResidentClient::new(self.channel()).auth_history(request))
            .await
    }

    /// `Operator.ShardStatus`.
    pub async fn shard_status(&self) -> Result<v1::ShardStatusResponse, ClientError> {
        self.guarded(OperatorClient::new(self.channel()).shard_status(v1::ShardStatusRequest {}))
            .await
    }

    /// `Operator.ClusterMap`.
    pub async fn cluster_map(&self) -> Result<v1::ClusterMapResponse, ClientError> {
        self.guarded(OperatorClient::new(self.channel()).cluster_map(v1::ClusterMapRequest {}))
            .await
    }

    /// `Operator.Echo`: the payload back, the transport's baseline cost.
    pub async fn echo(&self, payload: Vec<u8>) -> Result<Vec<u8>, ClientError> {
        Ok(self
            .guarded(OperatorClient::new(self.channel()).echo(v1::EchoMessage { payload }))
            .await?
            .payload)
    }
}
