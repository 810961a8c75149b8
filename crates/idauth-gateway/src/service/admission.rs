//! The door every public RPC goes through, in one place: credential and policy (with
//! the caller's quota), the size limit, the refusal's metrics and log line, and a
//! tracing span naming caller, operation and txn.

use std::future::Future;
use std::time::Instant;

use idauth_core::ErrorCode;
use idauth_proto::v1;
use tracing::Instrument;

use super::PublicApi;
use crate::auth::{Caller, Operation, Presented};
use crate::error::GatewayError;
use crate::gateway::now_ms;

/// One public RPC as admission sees it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rpc {
    /// The operation label of metrics and logs.
    pub name: &'static str,
    /// The policy operation it needs; `None`: any valid credential (service keys).
    pub needs: Option<Operation>,
    /// Whether the request counts against the gateway's size limit (the calls that
    /// carry fingers or demographics).
    pub size_limited: bool,
}

impl Rpc {
    /// A call that carries fingers or demographics and needs `needs`.
    pub const fn carrying(name: &'static str, needs: Operation) -> Self {
        Self {
            name,
            needs: Some(needs),
            size_limited: true,
        }
    }

    /// A call without a payload worth limiting that needs `needs`.
    pub const fn small(name: &'static str, needs: Option<Operation>) -> Self {
        Self {
            name,
            needs,
            size_limited: false,
        }
    }
}

/// What the handler of an admitted call receives.
#[derive(Debug)]
pub(super) struct Admitted {
    /// The caller, whose policy allows the call.
    pub caller: Caller,
    /// When the call arrived: deadlines count from here.
    pub started: Instant,
}

/// The outcome code an answer counts under in the request metrics: 0, or the error a
/// verify answers in-band.
pub(super) trait Counted {
    /// 0 for success.
    fn outcome_code(&self) -> u16 {
        0
    }
}

impl Counted for v1::VerifyResponse {
    fn outcome_code(&self) -> u16 {
        self.error.as_ref().map_or(0, |e| e.code as u16)
    }
}

impl PublicApi {
    /// Admits the call (`presented` credential allowed `rpc`, request of `encoded_len`
    /// bytes within the limit), runs `handle`, and counts and logs the outcome, all in
    /// one span. `txn` is the agency's txn or the centre's request id (never a
    /// resident value).
    pub(super) async fn admitted<T, F, Fut>(
        &self,
        rpc: Rpc,
        presented: &Presented,
        encoded_len: usize,
        txn: &str,
        handle: F,
    ) -> Result<T, GatewayError>
    where
        T: Counted,
        F: FnOnce(Admitted) -> Fut,
        Fut: Future<Output = Result<T, GatewayError>>,
    {
        let started = Instant::now();
        let span = tracing::info_span!(
            "rpc",
            operation = rpc.name,
            caller = tracing::field::Empty,
            txn
        );
        let result = async {
            let now = now_ms();
            let caller = match rpc.needs {
                Some(operation) => self.guard.authorize(presented, operation, now)?,
                None => self.guard.authenticate(presented, now)?,
            };
            tracing::Span::current().record("caller", caller.id());
            if rpc.size_limited {
                crate::validate::check_size(encoded_len, self.gateway.limits())?;
            }
            // Operator calls are not shed: they are how an overload is diagnosed.
            let _slot = match rpc.needs {
                Some(Operation::Operator) | None => None,
                Some(_) => Some(self.in_flight.enter(caller.id())?),
            };
            handle(Admitted { caller, started }).await
        }
        .instrument(span.clone())
        .await;
        match &result {
            Ok(answer) => self.metrics.outcome(rpc.name, answer.outcome_code()),
            Err(error) => {
                let code = error.code().number();
                self.metrics.outcome(rpc.name, code);
                // Past capacity a line per shed request would itself be load: those
                // are counted (requests_total by code) and logged at debug only.
                if error.code() == ErrorCode::Overloaded {
                    span.in_scope(|| tracing::debug!(code, %error, "request shed"));
                } else {
                    span.in_scope(|| tracing::info!(code, %error, "request refused"));
                }
            }
        }
        result
    }
}
