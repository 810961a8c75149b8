//! The shard API's commands from raw protobuf bytes, decoded and converted as a shard
//! process does before it touches its store. The first byte picks the RPC.
#![no_main]

use idauth_proto::convert::{self, ShardWrite};
use idauth_proto::internal;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fn decoded<M: Message + Default>(bytes: &[u8]) -> Option<M> {
    M::decode(bytes).ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    let write = match which % 8 {
        0 => decoded(bytes).map(ShardWrite::Enrol),
        1 => decoded(bytes).map(ShardWrite::UpdateBiometrics),
        2 => decoded(bytes).map(ShardWrite::UpdateDemographics),
        3 => decoded(bytes).map(ShardWrite::Deactivate),
        4 => decoded(bytes).map(ShardWrite::SetLock),
        5 => {
            if let Some(command) = decoded::<internal::VerifyCommand>(bytes) {
                if let Ok(request) = convert::verify_request(command) {
                    let _ = convert::verify_command(&request);
                }
            }
            None
        }
        6 => {
            if let Some(query) = decoded::<internal::HistoryQuery>(bytes) {
                let _ = convert::history_query(query);
            }
            None
        }
        _ => {
            let _ = decoded::<internal::StatusQuery>(bytes);
            None
        }
    };
    if let Some(write) = write {
        if let Ok(request) = convert::write_request(write) {
            let _ = convert::shard_write(&request);
        }
    }
});
