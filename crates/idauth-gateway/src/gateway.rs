//! Validation, routing and deadlines for every public operation.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use idauth_core::call::{AuthHistoryCall, EnrolmentCall, VerifyCall};
use idauth_core::command::{
    HistoryPage, HistoryQuery, ShardReport, VerifyOutcome, VerifyRequest, WriteContext,
    WriteOutcome, WriteRequest,
};
use idauth_core::{ErrorCode, StorageKey};
use idauth_shard::MAX_HISTORY_PAGE;

use crate::client::ShardClient;
use crate::error::GatewayError;
use crate::master_keys::MasterKeys;
use crate::routing::{Router, StorageKeySecret};
use crate::validate::{self, Limits};

/// How a gateway is set up.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// Keys the storage-key hash.
    pub secret: StorageKeySecret,
    /// Derive the per-record encryption keys.
    pub master_keys: MasterKeys,
    /// The shards, by id.
    pub shards: Vec<(String, Arc<dyn ShardClient>)>,
    /// Latency budget of a verify, from arrival to answer (Aadhaar's is 200 ms).
    pub verify_budget: Duration,
    /// Budget of an enrolment-side write, which includes an fsync and building up to
    /// ten templates.
    pub write_budget: Duration,
    /// Request limits.
    pub limits: Limits,
}

/// History entries per page when the request does not say.
pub const DEFAULT_HISTORY_PAGE: u32 = 20;

/// The gateway.
#[derive(Debug)]
pub struct Gateway {
    secret: StorageKeySecret,
    master_keys: MasterKeys,
    router: Router,
    clients: Vec<Arc<dyn ShardClient>>,
    verify_budget: Duration,
    write_budget: Duration,
    limits: Limits,
}

/// The time now in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

impl Gateway {
    /// A gateway over `options.shards` (at least one).
    pub fn new(options: GatewayOptions) -> Self {
        let (ids, clients): (Vec<String>, Vec<Arc<dyn ShardClient>>) =
            options.shards.into_iter().unzip();
        Self {
            secret: options.secret,
            master_keys: options.master_keys,
            router: Router::new(ids),
            clients,
            verify_budget: options.verify_budget,
            write_budget: options.write_budget,
            limits: options.limits,
        }
    }

    /// The request limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The index of the shard that owns `key`.
    pub fn route(&self, key: &StorageKey) -> usize {
        self.router.owner(key)
    }

    /// Checks and applies an enrolment-side write by `caller_id`; answers with the
    /// resident's token for that caller.
    pub async fn write(
        &self,
        call: EnrolmentCall,
        caller_id: &str,
        started: Instant,
    ) -> Result<(WriteOutcome, String), GatewayError> {
        let EnrolmentCall {
            context,
            resident,
            action,
        } = call;
        let command = validate::check_write(&context, action, now_ms(), &self.limits)?;
        let key = self.secret.storage_key(&resident);
        let token = self.secret.agency_token(caller_id, &key);
        let request = WriteRequest {
            context: WriteContext {
                caller_id: caller_id.to_owned(),
                token: token.clone(),
                centre_id: context.centre_id,
                request_id: context.request_id,
                timestamp_ms: context.timestamp_ms.unwrap_or_default(),
            },
            key,
            keys: self.master_keys.derive(&resident),
            command,
        };
        let shard = self.route(&key);
        let budget = self.write_budget.saturating_sub(started.elapsed());
        let outcome = self
            .on_shard(shard, budget, self.clients[shard].write(request, budget))
            .await?;
        Ok((outcome, token))
    }

    /// Checks a verify by `caller_id` and asks the owning shard for its decision;
    /// answers with the resident's token for that caller.
    pub async fn verify(
        &self,
        call: VerifyCall,
        caller_id: &str,
        started: Instant,
    ) -> Result<(VerifyOutcome, String), GatewayError> {
        let VerifyCall {
            txn,
            timestamp_ms,
            consent,
            resident,
            fingers,
            demographics,
            device_id: _,
        } = call;
        let (txn, fingers) = validate::check_verify(
            txn,
            timestamp_ms,
            consent,
            fingers,
            &demographics,
            now_ms(),
            &self.limits,
        )?;
        let key = self.secret.storage_key(&resident);
        let token = self.secret.agency_token(caller_id, &key);
        let shard = self.route(&key);
        let request = VerifyRequest {
            caller_id: caller_id.to_owned(),
            token: token.clone(),
            txn,
            timestamp_ms: timestamp_ms.unwrap_or_default(),
            key,
            keys: self.master_keys.derive(&resident),
            fingers,
            demographics,
        };
        let budget = self.verify_budget.saturating_sub(started.elapsed());
        let outcome = self
            .on_shard(shard, budget, self.clients[shard].verify(request, budget))
            .await?;
        Ok((outcome, token))
    }

    /// A page of a resident's history for `caller_id` (a resident portal); answers
    /// with the resident's token for that caller.
    pub async fn history(
        &self,
        call: AuthHistoryCall,
        caller_id: &str,
        started: Instant,
    ) -> Result<(HistoryPage, String), GatewayError> {
        let AuthHistoryCall {
            resident,
            page_size,
            before,
            only_token,
        } = call;
        let limit = match page_size {
            0 => DEFAULT_HISTORY_PAGE,
            1..=MAX_HISTORY_PAGE => page_size,
            _ => {
                return Err(GatewayError::Invalid {
                    code: ErrorCode::BadRequest,
                    reason: "page_size must be 0 to 100",
                });
            }
        };
        let key = self.secret.storage_key(&resident);
        let token = self.secret.agency_token(caller_id, &key);
        let query = HistoryQuery {
            caller_id: caller_id.to_owned(),
            token: token.clone(),
            key,
            before,
            only_token,
            limit,
        };
        let shard = self.route(&key);
        let budget = self.write_budget.saturating_sub(started.elapsed());
        let page = self
            .on_shard(shard, budget, self.clients[shard].history(query, budget))
            .await?;
        Ok((page, token))
    }

    /// Awaits a shard's answer within `budget`, naming the shard in any failure.
    async fn on_shard<T>(
        &self,
        shard: usize,
        budget: Duration,
        answer: impl Future<Output = Result<T, ErrorCode>>,
    ) -> Result<T, GatewayError> {
        let name = || self.router.shards()[shard].clone();
        // A spent budget must not reach the shard: `timeout` polls the answer once
        // before its deadline, so a quick shard could still act (and a write land)
        // after the caller has been told the deadline passed.
        if budget.is_zero() {
            return Err(GatewayError::Deadline { shard: name() });
        }
        match tokio::time::timeout(budget, answer).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(code)) => Err(GatewayError::Shard {
                shard: name(),
                code,
            }),
            Err(_) => Err(GatewayError::Deadline { shard: name() }),
        }
    }

    /// Every shard's report, `None` for a shard that did not answer in time.
    pub async fn status(&self) -> Vec<(String, Option<ShardReport>)> {
        let deadline = self.verify_budget.max(Duration::from_secs(1));
        let mut reports = Vec::with_capacity(self.clients.len());
        for (id, client) in self.router.shards().iter().zip(&self.clients) {
            let report = tokio::time::timeout(deadline, client.report(deadline))
                .await
                .ok()
                .and_then(Result::ok);
            reports.push((id.clone(), report));
        }
        reports
    }

    /// Each shard id with its address.
    pub fn cluster_map(&self) -> Vec<(String, String)> {
        self.router
            .shards()
            .iter()
            .zip(&self.clients)
            .map(|(id, client)| (id.clone(), client.address()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use idauth_core::command::VerifyOutcome;
    use idauth_core::{DemographicQuery, FingerSample, IdentifierType, ResidentId};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A shard that answers after a fixed delay, counting the calls that reach it.
    #[derive(Debug)]
    struct SlowShard(Duration, Arc<AtomicUsize>);

    #[async_trait::async_trait]
    impl ShardClient for SlowShard {
        async fn write(&self, _: WriteRequest, _: Duration) -> Result<WriteOutcome, ErrorCode> {
            tokio::time::sleep(self.0).await;
            Err(ErrorCode::Internal)
        }
        async fn verify(&self, _: VerifyRequest, _: Duration) -> Result<VerifyOutcome, ErrorCode> {
            self.1.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.0).await;
            Ok(VerifyOutcome {
                matched: true,
                reference: "r".into(),
                factors: vec![],
                error: None,
            })
        }
        async fn history(&self, _: HistoryQuery, _: Duration) -> Result<HistoryPage, ErrorCode> {
            Err(ErrorCode::ShardUnavailable)
        }
        async fn report(&self, _: Duration) -> Result<ShardReport, ErrorCode> {
            Err(ErrorCode::ShardUnavailable)
        }
        fn address(&self) -> String {
            "slow".into()
        }
    }

    fn call() -> VerifyCall {
        VerifyCall {
            txn: "t".into(),
            timestamp_ms: Some(now_ms()),
            consent: true,
            resident: ResidentId::new(IdentifierType::NationalId, "42").unwrap(),
            fingers: Vec::<FingerSample>::new(),
            demographics: DemographicQuery {
                name: "A".into(),
                ..DemographicQuery::default()
            },
            device_id: String::new(),
        }
    }

    fn gateway(delay: Duration, budget: Duration) -> (Gateway, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let shard = Arc::new(SlowShard(delay, Arc::clone(&calls)));
        let gateway = Gateway::new(GatewayOptions {
            secret: StorageKeySecret::new([1; 32]),
            master_keys: MasterKeys::from_json(&MasterKeys::generate_json().unwrap()).unwrap(),
            shards: vec![("s".into(), shard)],
            verify_budget: budget,
            write_budget: budget,
            limits: Limits::default(),
        });
        (gateway, calls)
    }

    #[tokio::test]
    async fn a_shard_slower_than_the_budget_gives_deadline_exceeded() {
        let (slow, _) = gateway(Duration::from_millis(500), Duration::from_millis(50));
        let started = Instant::now();
        let error = slow.verify(call(), "agency", started).await.unwrap_err();
        assert_eq!(error.code(), ErrorCode::DeadlineExceeded);
        assert!(started.elapsed() < Duration::from_millis(400));
        // A generous budget, so that a busy machine cannot make the quick shard late.
        let budget = Duration::from_secs(2);
        let (fast, calls) = gateway(Duration::from_millis(1), budget);
        assert!(
            fast.verify(call(), "agency", Instant::now())
                .await
                .unwrap()
                .0
                .matched
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // The budget counts from arrival: time already spent is not given again,
        // and a spent budget never reaches the shard.
        let late = Instant::now() - budget - Duration::from_millis(10);
        let error = fast.verify(call(), "agency", late).await.unwrap_err();
        assert_eq!(error.code(), ErrorCode::DeadlineExceeded);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
