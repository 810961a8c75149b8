//! `idauth.v1.Resident`: what a resident portal calls for the resident (lock, unlock,
//! authentication history).

use idauth_proto::convert;
use idauth_proto::status::to_status;
use idauth_proto::v1::resident_server::Resident;
use idauth_proto::v1::{
    AuthHistoryRequest, AuthHistoryResponse, LockRequest, UnlockRequest, UpdateResponse,
};
use tonic::{Request, Response, Status};

use super::PublicApi;
use super::admission::{Admitted, Counted, Rpc};
use crate::auth::{Operation, Presented};

const LOCK: Rpc = Rpc::carrying("lock_biometrics", Operation::History);
const UNLOCK: Rpc = Rpc::carrying("unlock_biometrics", Operation::History);
const AUTH_HISTORY: Rpc = Rpc::small("auth_history", Some(Operation::History));

impl Counted for AuthHistoryResponse {}

#[tonic::async_trait]
impl Resident for PublicApi {
    async fn lock_biometrics(
        &self,
        request: Request<LockRequest>,
    ) -> Result<Response<UpdateResponse>, Status> {
        self.plain_update(LOCK, request, convert::lock_call).await
    }

    async fn unlock_biometrics(
        &self,
        request: Request<UnlockRequest>,
    ) -> Result<Response<UpdateResponse>, Status> {
        self.plain_update(UNLOCK, request, convert::unlock_call)
            .await
    }

    async fn auth_history(
        &self,
        request: Request<AuthHistoryRequest>,
    ) -> Result<Response<AuthHistoryResponse>, Status> {
        let presented = Presented::of(&request);
        let request = request.into_inner();
        self.admitted(AUTH_HISTORY, &presented, 0, "", |admitted| async move {
            let Admitted { caller, started } = admitted;
            let call = convert::auth_history_call(request)?;
            let (page, token) = self.gateway.history(call, caller.id(), started).await?;
            Ok(convert::auth_history_response(&page, token))
        })
        .await
        .map(Response::new)
        .map_err(|error| to_status(error.code()))
    }
}
