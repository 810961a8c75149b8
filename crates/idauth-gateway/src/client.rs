//! How the gateway reaches a shard: in-process or over the shard gRPC API, behind one
//! trait so that routing, deadlines and error mapping do not care which.

use std::sync::Arc;
use std::time::{Duration, Instant};

use idauth_core::ErrorCode;
use idauth_core::command::{
    HistoryPage, HistoryQuery, ShardReport, VerifyOutcome, VerifyRequest, WriteOutcome,
    WriteRequest,
};
use idauth_proto::convert::{self, ShardWrite};
use idauth_proto::internal::StatusQuery;
use idauth_proto::internal::shard_client::ShardClient as ShardGrpcClient;
use idauth_proto::status::from_shard_status;
use idauth_shard::Shard;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use crate::shard_health::ShardHealth;

/// One shard, however it is reached. Errors are catalogue codes: the shard's own
/// refusals, or SHARD_UNAVAILABLE / DEADLINE_EXCEEDED for transport failures.
#[async_trait::async_trait]
pub trait ShardClient: Send + Sync + std::fmt::Debug {
    /// Applies a write; answers once it is durable.
    async fn write(
        &self,
        request: WriteRequest,
        deadline: Duration,
    ) -> Result<WriteOutcome, ErrorCode>;
    /// Decides a verify.
    async fn verify(
        &self,
        request: VerifyRequest,
        deadline: Duration,
    ) -> Result<VerifyOutcome, ErrorCode>;
    /// A page of a resident's history.
    async fn history(
        &self,
        query: HistoryQuery,
        deadline: Duration,
    ) -> Result<HistoryPage, ErrorCode>;
    /// The shard's state.
    async fn report(&self, deadline: Duration) -> Result<ShardReport, ErrorCode>;
    /// Where the shard is: "local" or its address.
    fn address(&self) -> String;
}

/// A shard in this process.
#[derive(Debug, Clone)]
pub struct LocalShard(pub Arc<Shard>);

#[async_trait::async_trait]
impl ShardClient for LocalShard {
    // The gateway enforces the deadline around this call; in-process there is no
    // transport to pass it to.
    async fn write(
        &self,
        request: WriteRequest,
        _deadline: Duration,
    ) -> Result<WriteOutcome, ErrorCode> {
        self.0.write(request).await.map_err(|error| {
            tracing::info!(shard = %self.0.id(), code = error.code().number(), %error, "write refused");
            error.code()
        })
    }

    async fn verify(
        &self,
        request: VerifyRequest,
        deadline: Duration,
    ) -> Result<VerifyOutcome, ErrorCode> {
        let deadline = Instant::now() + deadline;
        self.0.verify(request, Some(deadline)).await.map_err(|error| {
            let code = error.code();
            if code == ErrorCode::Overloaded {
                tracing::debug!(shard = %self.0.id(), code = code.number(), "verify shed");
            } else {
                tracing::info!(shard = %self.0.id(), code = code.number(), %error, "verify refused");
            }
            code
        })
    }

    async fn history(
        &self,
        query: HistoryQuery,
        _deadline: Duration,
    ) -> Result<HistoryPage, ErrorCode> {
        self.0.history(query).await.map_err(|error| {
            tracing::info!(shard = %self.0.id(), code = error.code().number(), %error, "history refused");
            error.code()
        })
    }

    async fn report(&self, _deadline: Duration) -> Result<ShardReport, ErrorCode> {
        Ok(self.0.report())
    }

    fn address(&self) -> String {
        "local".into()
    }
}

/// A shard in another process, over the shard gRPC API. The channel connects lazily
/// and reconnects by itself, so a shard that restarts is picked up again; its health
/// is watched, so calls fail fast while it does not answer ([`ShardHealth`]).
#[derive(Debug, Clone)]
pub struct RemoteShard {
    address: String,
    client: ShardGrpcClient<Channel>,
    health: Arc<ShardHealth>,
}

impl RemoteShard {
    /// A client for the shard at `address` (e.g. `http://10.0.0.5:50061`, or
    /// `https://...` with `tls`), taken as down after `down_after` without a health
    /// answer. Call it within a Tokio runtime: it starts the shard's health watch.
    pub fn new(
        address: &str,
        max_message_bytes: usize,
        tls: Option<ClientTlsConfig>,
        down_after: Duration,
    ) -> Result<Self, tonic::transport::Error> {
        let mut endpoint = Endpoint::from_shared(address.to_owned())?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true);
        if let Some(tls) = tls {
            endpoint = endpoint.tls_config(tls)?;
        }
        let channel = endpoint.connect_lazy();
        let health = ShardHealth::watch(address, channel.clone(), down_after);
        let client = ShardGrpcClient::new(channel)
            .max_decoding_message_size(max_message_bytes)
            .max_encoding_message_size(max_message_bytes);
        Ok(Self {
            address: address.to_owned(),
            client,
            health,
        })
    }

    /// `call`, unless the shard is down: then SHARD_UNAVAILABLE at once, and for a call
    /// already waiting, as soon as the shard is taken as down.
    async fn guarded<T>(
        &self,
        call: impl Future<Output = Result<T, ErrorCode>>,
    ) -> Result<T, ErrorCode> {
        if !self.health.is_up() {
            return Err(ErrorCode::ShardUnavailable);
        }
        tokio::select! {
            biased;
            answer = call => answer,
            () = self.health.down() => Err(ErrorCode::ShardUnavailable),
        }
    }
}

fn with_deadline<T>(message: T, deadline: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(deadline);
    request
}

#[async_trait::async_trait]
impl ShardClient for RemoteShard {
    async fn write(
        &self,
        request: WriteRequest,
        deadline: Duration,
    ) -> Result<WriteOutcome, ErrorCode> {
        let mut client = self.client.clone();
        let answer = self.guarded(async move {
            match convert::shard_write(&request) {
                ShardWrite::Enrol(m) => client.enrol(with_deadline(m, deadline)).await,
                ShardWrite::UpdateBiometrics(m) => {
                    client.update_biometrics(with_deadline(m, deadline)).await
                }
                ShardWrite::UpdateDemographics(m) => {
                    client.update_demographics(with_deadline(m, deadline)).await
                }
                ShardWrite::Deactivate(m) => client.deactivate(with_deadline(m, deadline)).await,
                ShardWrite::SetLock(m) => client.set_lock(with_deadline(m, deadline)).await,
            }
            .map(|response| convert::write_outcome(response.into_inner()))
            .map_err(|status| from_shard_status(&status))
        });
        answer.await
    }

    async fn verify(
        &self,
        request: VerifyRequest,
        deadline: Duration,
    ) -> Result<VerifyOutcome, ErrorCode> {
        let mut client = self.client.clone();
        self.guarded(async move {
            client
                .verify(with_deadline(convert::verify_command(&request), deadline))
                .await
                .map(|response| convert::verify_outcome(response.into_inner()))
                .map_err(|status| from_shard_status(&status))
        })
        .await
    }

    async fn history(
        &self,
        query: HistoryQuery,
        deadline: Duration,
    ) -> Result<HistoryPage, ErrorCode> {
        let mut client = self.client.clone();
        self.guarded(async move {
            client
                .history(with_deadline(
                    convert::history_query_to_wire(&query),
                    deadline,
                ))
                .await
                .map(|response| convert::history_page(response.into_inner()))
                .map_err(|status| from_shard_status(&status))
        })
        .await
    }

    async fn report(&self, deadline: Duration) -> Result<ShardReport, ErrorCode> {
        let mut client = self.client.clone();
        client
            .status(with_deadline(StatusQuery {}, deadline))
            .await
            .map(|response| convert::status_report(response.into_inner()))
            .map_err(|status| from_shard_status(&status))
    }

    fn address(&self) -> String {
        self.address.clone()
    }
}
