//! The calls of the public API, each returning the answer or a [`ClientError`].

use idauth_proto::v1;
use idauth_proto::v1::auth_client::AuthClient;
use idauth_proto::v1::enrolment_client::EnrolmentClient;
use idauth_proto::v1::operator_client::OperatorClient;
use idauth_proto::v1::resident_client::ResidentClient;

use crate::connect::{self, Authenticated, Credential, Tls};
use crate::{ClientError, ServiceKeys};

/// A connection to the gateway. Cloning it is cheap and shares the connection, so one
/// client serves many concurrent calls.
#[derive(Debug, Clone)]
pub struct Client {
    channel: Authenticated,
}

impl Client {
    /// Connects to `server` (`http://host:port`; `https://` needs `tls`), presenting
    /// `credential` on every call.
    pub async fn connect(
        server: &str,
        credential: &Credential,
        tls: Option<&Tls>,
    ) -> Result<Self, ClientError> {
        Ok(Self {
            channel: connect::channel(server, credential, tls).await?,
        })
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
        Ok(AuthClient::new(self.channel())
            .verify(request)
            .await?
            .into_inner())
    }

    /// `Enrolment.Enrol`; a resend of the same request id answers `replayed`.
    pub async fn enrol(&self, request: v1::EnrolRequest) -> Result<v1::EnrolResponse, ClientError> {
        Ok(EnrolmentClient::new(self.channel())
            .enrol(request)
            .await?
            .into_inner())
    }

    /// `Enrolment.UpdateBiometrics`.
    pub async fn update_biometrics(
        &self,
        request: v1::UpdateBiometricsRequest,
    ) -> Result<v1::UpdateResponse, ClientError> {
        Ok(EnrolmentClient::new(self.channel())
            .update_biometrics(request)
            .await?
            .into_inner())
    }

    /// `Enrolment.UpdateDemographics`.
    pub async fn update_demographics(
        &self,
        request: v1::UpdateDemographicsRequest,
    ) -> Result<v1::UpdateResponse, ClientError> {
        Ok(EnrolmentClient::new(self.channel())
            .update_demographics(request)
            .await?
            .into_inner())
    }

    /// `Enrolment.Deactivate`.
    pub async fn deactivate(
        &self,
        request: v1::DeactivateRequest,
    ) -> Result<v1::UpdateResponse, ClientError> {
        Ok(EnrolmentClient::new(self.channel())
            .deactivate(request)
            .await?
            .into_inner())
    }

    /// `Resident.LockBiometrics`.
    pub async fn lock_biometrics(
        &self,
        request: v1::LockRequest,
    ) -> Result<v1::UpdateResponse, ClientError> {
        Ok(ResidentClient::new(self.channel())
            .lock_biometrics(request)
            .await?
            .into_inner())
    }

    /// `Resident.UnlockBiometrics`.
    pub async fn unlock_biometrics(
        &self,
        request: v1::UnlockRequest,
    ) -> Result<v1::UpdateResponse, ClientError> {
        Ok(ResidentClient::new(self.channel())
            .unlock_biometrics(request)
            .await?
            .into_inner())
    }

    /// `Resident.AuthHistory`: one page.
    pub async fn auth_history(
        &self,
        request: v1::AuthHistoryRequest,
    ) -> Result<v1::AuthHistoryResponse, ClientError> {
        Ok(ResidentClient::new(self.channel())
            .auth_history(request)
            .await?
            .into_inner())
    }

    /// `Operator.ShardStatus`.
    pub async fn shard_status(&self) -> Result<v1::ShardStatusResponse, ClientError> {
        Ok(OperatorClient::new(self.channel())
            .shard_status(v1::ShardStatusRequest {})
            .await?
            .into_inner())
    }

    /// `Operator.ClusterMap`.
    pub async fn cluster_map(&self) -> Result<v1::ClusterMapResponse, ClientError> {
        Ok(OperatorClient::new(self.channel())
            .cluster_map(v1::ClusterMapRequest {})
            .await?
            .into_inner())
    }

    /// `Operator.Echo`: the payload back, the transport's baseline cost.
    pub async fn echo(&self, payload: Vec<u8>) -> Result<Vec<u8>, ClientError> {
        Ok(OperatorClient::new(self.channel())
            .echo(v1::EchoMessage { payload })
            .await?
            .into_inner()
            .payload)
    }
}
