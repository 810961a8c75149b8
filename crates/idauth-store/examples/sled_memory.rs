//! How sled's resident memory grows with the entries stored, outside idauth: the
//! check behind docs/reliability.md's "Soak" (is the slope ours or sled's?).
//!
//! `cargo run --release -p idauth-store --example sled_memory -- <seq|rand> <entries> <value bytes>`
//! inserts that many values into one tree with an 8 MiB page cache (idauth's default),
//! flushing every 20,000, and prints the RSS at each fifth of the way.

use std::io::Read;

fn rss_kb() -> u64 {
    let mut status = String::new();
    std::fs::File::open("/proc/self/status")
        .and_then(|mut f| f.read_to_string(&mut status))
        .expect("reading /proc/self/status");
    status
        .lines()
        .find(|l| l.starts_with("VmRSS"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse().ok())
        .expect("VmRSS in /proc/self/status")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: sled_memory <seq|rand> <entries> <value bytes>";
    let (mode, entries, size) = match &args[..] {
        [_, mode, n, size] => (
            mode.as_str(),
            n.parse::<u64>().expect(usage),
            size.parse::<usize>().expect(usage),
        ),
        _ => panic!("{usage}"),
    };
    let dir = tempfile::tempdir().expect("a scratch directory");
    let db = sled::Config::new()
        .path(dir.path())
        .cache_capacity(8 << 20)
        .open()
        .expect("opening sled");
    let tree = db.open_tree("t").expect("a tree");
    let base = rss_kb();
    let value = vec![7u8; size];
    // xorshift64: keys spread like the history index's (a keyed hash, then a sequence).
    let mut x: u64 = 88_172_645_463_325_252;
    for i in 0..entries {
        let key = if mode == "seq" {
            i.to_be_bytes().to_vec()
        } else {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            [x.to_be_bytes(), i.to_be_bytes()].concat()
        };
        tree.insert(key, value.clone()).expect("insert");
        if i % 20_000 == 0 {
            db.flush().expect("flush");
        }
        if (i + 1) % (entries / 5).max(1) == 0 {
            let rss = rss_kb();
            println!(
                "{mode} value {size} B: {} entries, RSS {} MB, {:.1} B per entry over the start",
                i + 1,
                rss / 1024,
                (rss.saturating_sub(base)) as f64 * 1024.0 / (i + 1) as f64
            );
        }
    }
}
