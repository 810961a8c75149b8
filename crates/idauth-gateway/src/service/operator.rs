//! `idauth.v1.Operator`: shard status, the cluster map, and the echo baseline.

use idauth_proto::convert;
use idauth_proto::status::to_status;
use idauth_proto::v1::operator_server::Operator;
use idauth_proto::v1::{
    ClusterMapRequest, ClusterMapResponse, EchoMessage, ShardEndpoint, ShardStatusRequest,
    ShardStatusResponse,
};
use tonic::{Request, Response, Status};

use super::PublicApi;
use super::admission::{Counted, Rpc};
use crate::auth::{Operation, Presented};

const SHARD_STATUS: Rpc = Rpc::small("shard_status", Some(Operation::Operator));
const CLUSTER_MAP: Rpc = Rpc::small("cluster_map", Some(Operation::Operator));
const ECHO: Rpc = Rpc::small("echo", Some(Operation::Operator));

impl Counted for ShardStatusResponse {}
impl Counted for ClusterMapResponse {}
impl Counted for EchoMessage {}

#[tonic::async_trait]
impl Operator for PublicApi {
    async fn shard_status(
        &self,
        request: Request<ShardStatusRequest>,
    ) -> Result<Response<ShardStatusResponse>, Status> {
        let presented = Presented::of(&request);
        self.admitted(SHARD_STATUS, &presented, 0, "", |_| async {
            let shards = self
                .gateway
                .status()
                .await
                .iter()
                .map(|(id, report)| convert::shard_state(report.as_ref(), id))
                .collect();
            let gateway_stages = self
                .metrics
                .snapshot()
                .stages
                .iter()
                .map(idauth_proto::v1::StageTime::from)
                .collect();
            Ok(ShardStatusResponse {
                shards,
                gateway_stages,
            })
        })
        .await
        .map(Response::new)
        .map_err(|error| to_status(error.code()))
    }

    async fn echo(&self, request: Request<EchoMessage>) -> Result<Response<EchoMessage>, Status> {
        let presented = Presented::of(&request);
        let message = request.into_inner();
        self.admitted(ECHO, &presented, 0, "", |_| async { Ok(message) })
            .await
            .map(Response::new)
            .map_err(|error| to_status(error.code()))
    }

    async fn cluster_map(
        &self,
        request: Request<ClusterMapRequest>,
    ) -> Result<Response<ClusterMapResponse>, Status> {
        let presented = Presented::of(&request);
        self.admitted(CLUSTER_MAP, &presented, 0, "", |_| async {
            let shards = self
                .gateway
                .cluster_map()
                .into_iter()
                .map(|(shard_id, address)| ShardEndpoint { shard_id, address })
                .collect();
            Ok(ClusterMapResponse {
                shards,
                routing: "rendezvous: owner = argmax over shards of BLAKE3(storage key || shard id)[0..8] as u64 LE".into(),
            })
        })
        .await
        .map(Response::new)
        .map_err(|error| to_status(error.code()))
    }
}
