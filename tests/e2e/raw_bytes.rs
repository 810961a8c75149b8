//! Bytes that are not a valid request, sent straight to the public methods (no generated
//! client in the way): garbage, a truncated varint, a length past the end, seeded
//! random bytes, a string that is not UTF-8, a message over the transport limit. Each is the caller's fault, so
//! each must be answered INVALID_ARGUMENT with BAD_REQUEST (or RESOURCE_EXHAUSTED with
//! MESSAGE_TOO_LARGE), never INTERNAL, and the service must go on serving.

use bytes::{Buf, BufMut};
use idauth_match::synthetic::SeededRng;
use idauth_proto::status::from_status;
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;

use crate::common::service::{Authenticated, loopback_cluster, scratch};

/// Sends and receives message bytes as they are.
#[derive(Debug, Default, Clone, Copy)]
pub struct Raw;

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

async fn unary(channel: &Authenticated, method: &str, body: Vec<u8>) -> tonic::Status {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    grpc.unary(
        tonic::Request::new(body),
        PathAndQuery::from_static(leak(method)),
        Raw,
    )
    .await
    .expect_err("bad bytes were accepted")
}

async fn batch(channel: &Authenticated, body: Vec<u8>) -> tonic::Status {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let items = tokio_stream::iter(vec![body]);
    let answer = grpc
        .streaming(
            tonic::Request::new(items),
            PathAndQuery::from_static("/idauth.v1.Auth/VerifyBatch"),
            Raw,
        )
        .await;
    match answer {
        Err(status) => status,
        Ok(response) => {
            let mut stream = response.into_inner();
            loop {
                match stream.message().await {
                    Ok(Some(_)) => continue,
                    Ok(None) => panic!("the batch ended without refusing its bad item"),
                    Err(status) => break status,
                }
            }
        }
    }
}

fn leak(method: &str) -> &'static str {
    Box::leak(method.to_owned().into_boxed_str())
}

fn bad_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let mut rng = SeededRng::new(15);
    let random: Vec<u8> = (0..64).map(|_| rng.next_u64() as u8).collect();
    vec![
        ("garbage", vec![0xff; 16]),
        // Field 1 (a length-delimited field) whose length varint never ends.
        ("truncated varint", vec![0x0a, 0x80, 0x80, 0x80]),
        // Field 1 claiming 16 bytes, with 3.
        ("length past the end", vec![0x0a, 0x10, 1, 2, 3]),
        // A wire type that does not exist (7).
        ("unknown wire type", vec![0x0f, 0x01]),
        ("random bytes", random),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_that_are_not_a_request_are_the_callers_fault() {
    let dir = scratch();
    let cluster = loopback_cluster(dir.path()).await;
    let channel = cluster.connect().await;
    for method in [
        "/idauth.v1.Enrolment/Enrol",
        "/idauth.v1.Auth/Verify",
        "/idauth.v1.Resident/AuthHistory",
        "/idauth.v1.Operator/Echo",
    ] {
        for (what, body) in bad_bodies() {
            let status = unary(&channel, method, body).await;
            assert_eq!(
                (status.code(), from_status(&status).name()),
                (Code::InvalidArgument, "BAD_REQUEST"),
                "{method} with {what}: {status:?}"
            );
        }
    }
    for (what, body) in bad_bodies() {
        let status = batch(&channel, body).await;
        assert_eq!(
            (status.code(), from_status(&status).name()),
            (Code::InvalidArgument, "BAD_REQUEST"),
            "VerifyBatch with {what}: {status:?}"
        );
    }

    // A string field (VerifyRequest.txn) holding bytes that are not UTF-8.
    let status = unary(
        &channel,
        "/idauth.v1.Auth/Verify",
        vec![0x0a, 0x02, 0xff, 0xfe],
    )
    .await;
    assert_eq!(
        (status.code(), from_status(&status).name()),
        (Code::InvalidArgument, "BAD_REQUEST"),
        "Verify with a txn that is not UTF-8: {status:?}"
    );

    // 10 MB, over tonic's own limit: field 1 holding 10 MB.
    let mut huge = vec![0x0a];
    let mut len = 10 * 1024 * 1024u64;
    while len >= 0x80 {
        huge.push((len as u8) | 0x80);
        len >>= 7;
    }
    huge.push(len as u8);
    huge.resize(huge.len() + 10 * 1024 * 1024, 0);
    for method in ["/idauth.v1.Enrolment/Enrol", "/idauth.v1.Auth/Verify"] {
        let status = unary(&channel, method, huge.clone()).await;
        assert_eq!(
            (status.code(), from_status(&status).name()),
            (Code::ResourceExhausted, "MESSAGE_TOO_LARGE"),
            "{method} with 10 MB: {status:?}"
        );
    }

    // Still serving: a well-formed call is answered (no such resident, in-band).
    let mut auth = idauth_proto::v1::auth_client::AuthClient::new(channel.clone());
    let keys = auth
        .service_keys(idauth_proto::v1::ServiceKeysRequest {})
        .await
        .expect("the service still answers after the bad bytes");
    assert!(!keys.into_inner().envelope_keys.is_empty());
}
