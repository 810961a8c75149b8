//! The config loader (the binary's own `src/config.rs`) on arbitrary file text: it
//! either refuses with an error or yields a config that passed its checks.
#![no_main]
#![allow(
    dead_code,
    reason = "only the loader of the binary's config module is driven"
)]

#[path = "../../src/config.rs"]
mod config;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(config) = config::Config::from_layers(Some(text), serde_json::Map::new()) {
        assert!((1..=64).contains(&config.shards));
        let _ = config.limits();
    }
});
