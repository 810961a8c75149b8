//! No RPC is served without a credential by mistake: every method the server itself
//! lists through reflection (so an RPC added later is covered without editing this
//! test) is called with no credential and with a bogus one, and each is refused with
//! UNAUTHENTICATED and the catalogue's CREDENTIAL_MISSING / CREDENTIAL_UNKNOWN. Health
//! checking and reflection are the stated exceptions.

use prost::Message;
use tonic::Code;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

use crate::common::reflection::reflect;
use crate::common::service::{loopback_cluster, scratch};
use crate::raw_bytes::Raw;

/// Services that answer without a credential, on purpose.
const OPEN: [&str; 3] = [
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// Every (service, method, client streaming) the server lists.
async fn methods(channel: &Channel) -> Vec<(String, String, bool)> {
    let MessageResponse::ListServicesResponse(list) =
        reflect(channel, MessageRequest::ListServices(String::new())).await
    else {
        panic!("no service list");
    };
    let mut methods = Vec::new();
    for service in list.service {
        if OPEN.contains(&service.name.as_str()) {
            continue;
        }
        let MessageResponse::FileDescriptorResponse(files) = reflect(
            channel,
            MessageRequest::FileContainingSymbol(service.name.clone()),
        )
        .await
        else {
            panic!("no descriptor for {}", service.name);
        };
        let (package, short) = service.name.rsplit_once('.').unwrap();
        let found = files
            .file_descriptor_proto
            .iter()
            .map(|bytes| prost_types::FileDescriptorProto::decode(bytes.as_slice()).unwrap())
            .filter(|file| file.package() == package)
            .flat_map(|file| file.service)
            .find(|s| s.name() == short)
            .unwrap_or_else(|| panic!("{} not in its descriptor", service.name));
        for method in found.method {
            methods.push((
                service.name.clone(),
                method.name().to_owned(),
                method.client_streaming(),
            ));
        }
    }
    methods
}

fn with_key<T>(mut request: tonic::Request<T>, key: Option<&str>) -> tonic::Request<T> {
    if let Some(key) = key {
        let value = MetadataValue::try_from(format!("Bearer {key}")).unwrap();
        request.metadata_mut().insert("authorization", value);
    }
    request
}

async fn call(channel: &Channel, path: &str, streaming: bool, key: Option<&str>) -> tonic::Status {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let name = path;
    let path = PathAndQuery::try_from(path.to_owned()).unwrap();
    // An empty message is a valid request of every type (all fields default).
    if streaming {
        let request = with_key(
            tonic::Request::new(tokio_stream::iter(vec![Vec::new()])),
            key,
        );
        match grpc.streaming(request, path, Raw).await {
            Err(status) => status,
            Ok(response) => match response.into_inner().message().await {
                Err(status) => status,
                Ok(answer) => panic!("{name} answered {answer:?} without a valid credential"),
            },
        }
    } else {
        match grpc
            .unary(with_key(tonic::Request::new(Vec::new()), key), path, Raw)
            .await
        {
            Err(status) => status,
            Ok(answer) => panic!("{name} answered {answer:?} without a valid credential"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listed_rpc_refuses_a_missing_or_bogus_credential() {
    let dir = scratch();
    let cluster = loopback_cluster(dir.path()).await;
    let channel = tonic::transport::Endpoint::from_shared(cluster.url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let methods = methods(&channel).await;
    assert!(methods.len() >= 13, "reflection listed only {methods:?}");
    for (service, method, streaming) in &methods {
        let path = format!("/{service}/{method}");
        for (key, expected) in [
            (None, "CREDENTIAL_MISSING"),
            (
                Some("idk_0000000000000000000000000000000000000000000000000000000000000000"),
                "CREDENTIAL_UNKNOWN",
            ),
            (Some("not even a key"), "CREDENTIAL_UNKNOWN"),
        ] {
            let status = call(&channel, &path, *streaming, key).await;
            assert_eq!(
                (
                    status.code(),
                    idauth_proto::status::from_status(&status).name()
                ),
                (Code::Unauthenticated, expected),
                "{path} with {key:?}: {status:?}"
            );
        }
    }
    eprintln!(
        "{} RPCs refuse a missing and a bogus credential",
        methods.len()
    );
}
