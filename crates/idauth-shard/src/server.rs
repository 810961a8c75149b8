//! The shard gRPC API (`idauth.internal.v1.Shard`), for shards run as their own process.
//! Requests are converted by `idauth-proto` and handed to the same [`Shard`] a local
//! gateway calls in-process; every error leaves as a status with an `idauth.v1.Error`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use idauth_proto::convert::{self, ShardWrite};
use idauth_proto::internal::shard_server::{Shard as ShardApi, ShardServer};
use idauth_proto::internal::{
    DeactivateCommand, EnrolCommand, HistoryPage, HistoryQuery, LockCommand, StatusQuery,
    StatusReport, UpdateBiometricsCommand, UpdateDemographicsCommand, VerifyCommand, VerifyOutcome,
    WriteOutcome,
};
use idauth_proto::status::to_shard_status;
use tonic::{Request, Response, Status};

use crate::shard::Shard;

/// The shard API over one [`Shard`].
#[derive(Debug, Clone)]
pub struct ShardService {
    shard: Arc<Shard>,
}

impl ShardService {
    /// Serves `shard`.
    pub fn new(shard: Arc<Shard>) -> Self {
        Self { shard }
    }

    /// The tonic service, with the message size limit applied.
    pub fn into_server(self, max_message_bytes: usize) -> ShardServer<Self> {
        ShardServer::new(self)
            .max_decoding_message_size(max_message_bytes)
            .max_encoding_message_size(max_message_bytes)
    }

    async fn write(&self, message: ShardWrite) -> Result<Response<WriteOutcome>, Status> {
        let request = convert::write_request(message).map_err(|e| to_shard_status(e.code()))?;
        match self.shard.write(request).await {
            Ok(outcome) => Ok(Response::new(convert::write_outcome_to_wire(&outcome))),
            Err(error) => {
                tracing::info!(shard = %self.shard.id(), code = error.code().number(), %error, "write refused");
                Err(to_shard_status(error.code()))
            }
        }
    }
}

#[tonic::async_trait]
impl ShardApi for ShardService {
    async fn enrol(
        &self,
        request: Request<EnrolCommand>,
    ) -> Result<Response<WriteOutcome>, Status> {
        self.write(ShardWrite::Enrol(request.into_inner())).await
    }

    async fn update_biometrics(
        &self,
        request: Request<UpdateBiometricsCommand>,
    ) -> Result<Response<WriteOutcome>, Status> {
        self.write(ShardWrite::UpdateBiometrics(request.into_inner()))
            .await
    }

    async fn update_demographics(
        &self,
        request: Request<UpdateDemographicsCommand>,
    ) -> Result<Response<WriteOutcome>, Status> {
        self.write(ShardWrite::UpdateDemographics(request.into_inner()))
            .await
    }

    async fn deactivate(
        &self,
        request: Request<DeactivateCommand>,
    ) -> Result<Response<WriteOutcome>, Status> {
        self.write(ShardWrite::Deactivate(request.into_inner()))
            .await
    }

    async fn set_lock(
        &self,
        request: Request<LockCommand>,
    ) -> Result<Response<WriteOutcome>, Status> {
        self.write(ShardWrite::SetLock(request.into_inner())).await
    }

    async fn verify(
        &self,
        request: Request<VerifyCommand>,
    ) -> Result<Response<VerifyOutcome>, Status> {
        let deadline = deadline_of(request.metadata(), Instant::now());
        let request =
            convert::verify_request(request.into_inner()).map_err(|e| to_shard_status(e.code()))?;
        match self.shard.verify(request, deadline).await {
            Ok(outcome) => Ok(Response::new(convert::verify_outcome_to_wire(&outcome))),
            Err(error) => {
                let code = error.code();
                if code == idauth_core::ErrorCode::Overloaded {
                    tracing::debug!(shard = %self.shard.id(), code = code.number(), "verify shed");
                } else {
                    tracing::info!(shard = %self.shard.id(), code = code.number(), %error, "verify refused");
                }
                Err(to_shard_status(code))
            }
        }
    }

    async fn status(
        &self,
        _request: Request<StatusQuery>,
    ) -> Result<Response<StatusReport>, Status> {
        Ok(Response::new(convert::status_report_to_wire(
            &self.shard.report(),
        )))
    }

    async fn history(
        &self,
        request: Request<HistoryQuery>,
    ) -> Result<Response<HistoryPage>, Status> {
        let query =
            convert::history_query(request.into_inner()).map_err(|e| to_shard_status(e.code()))?;
        match self.shard.history(query).await {
            Ok(page) => Ok(Response::new(convert::history_page_to_wire(&page))),
            Err(error) => {
                tracing::info!(shard = %self.shard.id(), code = error.code().number(), %error, "history refused");
                Err(to_shard_status(error.code()))
            }
        }
    }
}

/// The caller's deadline, from the `grpc-timeout` header the gateway sends (an integer
/// of at most 8 digits and a unit: H, M, S, m, u or n).
fn deadline_of(metadata: &tonic::metadata::MetadataMap, now: Instant) -> Option<Instant> {
    let value = metadata.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    let timeout = match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    };
    now.checked_add(timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grpc_timeout_header_gives_the_deadline() {
        let now = Instant::now();
        let with = |value: &str| {
            let mut metadata = tonic::metadata::MetadataMap::new();
            metadata.insert("grpc-timeout", value.parse().unwrap());
            deadline_of(&metadata, now)
        };
        assert_eq!(with("199m"), Some(now + Duration::from_millis(199)));
        assert_eq!(with("5S"), Some(now + Duration::from_secs(5)));
        assert_eq!(with("1500u"), Some(now + Duration::from_micros(1500)));
        assert_eq!(with("2H"), Some(now + Duration::from_secs(7200)));
        for bad in ["", "m", "123456789m", "10x", "-5m"] {
            assert_eq!(with(bad), None, "{bad:?}");
        }
        assert_eq!(deadline_of(&tonic::metadata::MetadataMap::new(), now), None);
    }
}
