//! Every public request from raw protobuf bytes, as the gateway takes it: decoded, its
//! envelope set aside (the `envelope` target opens those), converted to a call and put
//! through every validation rule, against a fixed clock. The first byte picks the RPC.
#![no_main]

use idauth_core::call::EnrolmentCall;
use idauth_gateway::validate::{self, Limits};
use idauth_proto::convert::{self, ConvertError};
use idauth_proto::v1;
use libfuzzer_sys::fuzz_target;
use prost::Message;

/// 2023-11-14: inside the window of timestamps the seeds carry.
const NOW_MS: i64 = 1_700_000_000_000;

fn decoded<M: Message + Default + PartialEq + std::fmt::Debug>(bytes: &[u8]) -> Option<M> {
    let message = M::decode(bytes).ok()?;
    let again = M::decode(message.encode_to_vec().as_slice()).expect("its own encoding decodes");
    assert_eq!(again, message, "decode(encode(message)) != message");
    let _ = validate::check_size(message.encoded_len(), &Limits::default());
    Some(message)
}

fn write(call: Result<EnrolmentCall, ConvertError>) {
    if let Ok(EnrolmentCall {
        context, action, ..
    }) = call
    {
        let _ = validate::check_write(&context, action, NOW_MS, &Limits::default());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    match which % 12 {
        0 => {
            if let Some(mut request) = decoded::<v1::EnrolRequest>(bytes) {
                request.envelope = None;
                write(convert::enrol_call(request));
            }
        }
        1 => {
            if let Some(mut request) = decoded::<v1::UpdateBiometricsRequest>(bytes) {
                request.envelope = None;
                write(convert::update_biometrics_call(request));
            }
        }
        2 => {
            if let Some(request) = decoded(bytes) {
                write(convert::update_demographics_call(request));
            }
        }
        3 => {
            if let Some(request) = decoded(bytes) {
                write(convert::deactivate_call(request));
            }
        }
        4 => {
            if let Some(request) = decoded(bytes) {
                write(convert::lock_call(request));
            }
        }
        5 => {
            if let Some(request) = decoded(bytes) {
                write(convert::unlock_call(request));
            }
        }
        6 => {
            if let Some(mut request) = decoded::<v1::VerifyRequest>(bytes) {
                request.envelope = None;
                if let Ok(call) = convert::verify_call(request) {
                    let _ = validate::check_verify(
                        call.txn,
                        call.timestamp_ms,
                        call.consent,
                        call.fingers,
                        &call.demographics,
                        NOW_MS,
                        &Limits::default(),
                    );
                }
            }
        }
        7 => {
            if let Some(request) = decoded(bytes) {
                let _ = convert::auth_history_call(request);
            }
        }
        8 => {
            let _ = decoded::<v1::ServiceKeysRequest>(bytes);
        }
        9 => {
            let _ = decoded::<v1::ShardStatusRequest>(bytes);
        }
        10 => {
            let _ = decoded::<v1::ClusterMapRequest>(bytes);
        }
        _ => {
            let _ = decoded::<v1::EchoMessage>(bytes);
        }
    }
});
