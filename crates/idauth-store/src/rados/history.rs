//! A resident's history on RADOS: its keys in the chain's segments (`audit.rs`), read
//! newest segment first. A segment lists a resident's entries newest first under one
//! prefix, so a page costs one read per segment until it is full; segments are read a
//! window at a time, concurrently.

use std::time::Duration;

use idauth_core::StorageKey;

use super::audit::{SEGMENT, cluster, history_key, history_prefix, segment_oid};
use super::client::{ENOENT, Pool, ReadOp, ReadResult};
use crate::audit::AuditEntry;
use crate::error::Result;

/// Segments read at once.
const WINDOW: u64 = 8;

/// Where a history read is: the chain, its newest segment and the read timeout.
pub(crate) struct Place<'a> {
    pub(crate) pool: &'a Pool,
    pub(crate) chain: &'a str,
    pub(crate) newest: u64,
    pub(crate) timeout: Duration,
}

/// A page of `subject`'s history: newest first, older than `before`, only `token`'s
/// when given; and whether more remain.
pub(crate) async fn history(
    place: &Place<'_>,
    subject: &StorageKey,
    before: Option<u64>,
    token: Option<&str>,
    limit: usize,
) -> Result<(Vec<AuditEntry>, bool)> {
    let prefix = &history_prefix(subject);
    let (mut segment, first_after) = match before {
        Some(0) => return Ok((Vec::new(), false)),
        // Keys of entries older than `before` sort after `before`'s own key.
        Some(before) => (
            (before / SEGMENT).min(place.newest),
            String::from_utf8_lossy(&history_key(subject, before)).into_owned(),
        ),
        None => (place.newest, String::new()),
    };
    let mut after_in_first = Some(first_after);
    let mut entries = Vec::with_capacity(limit.min(256));
    loop {
        let window: Vec<u64> = (segment.saturating_sub(WINDOW - 1)..=segment)
            .rev()
            .collect();
        let want = (limit + 1 - entries.len()) as u64;
        let reads = window.iter().map(|&number| {
            let after = if number == segment {
                after_in_first.take().unwrap_or_default()
            } else {
                String::new()
            };
            async move {
                let read = read_page(place, number, &after, prefix, want).await;
                (number, read)
            }
        });
        for (number, read) in futures_util::future::join_all(reads.collect::<Vec<_>>()).await {
            let mut read = read?;
            while let Some(page) = read {
                for (_, bytes) in &page.omap {
                    let entry: AuditEntry = postcard::from_bytes(bytes)?;
                    if token.is_some_and(|token| entry.token != token) {
                        continue;
                    }
                    if entries.len() == limit {
                        return Ok((entries, true));
                    }
                    entries.push(entry);
                }
                // More of this resident in this segment than one page held.
                read = match page.omap.last() {
                    Some((key, _)) if page.more => {
                        let after = String::from_utf8_lossy(key).into_owned();
                        read_page(place, number, &after, prefix, want.max(16)).await?
                    }
                    _ => None,
                };
            }
        }
        match window.last() {
            Some(&oldest) if oldest > 0 => segment = oldest - 1,
            _ => return Ok((entries, false)),
        }
    }
}

/// Up to `max` of `prefix`'s keys after `after` in segment `number`; `None` when the
/// segment does not exist.
async fn read_page(
    place: &Place<'_>,
    number: u64,
    after: &str,
    prefix: &str,
    max: u64,
) -> Result<Option<ReadResult>> {
    let op = ReadOp::default().omap_after(after, prefix, max.max(1));
    match place
        .pool
        .read(&segment_oid(place.chain, number), op, place.timeout)
        .await
    {
        Ok(read) => Ok(Some(read)),
        Err(e) if e.errno == ENOENT => Ok(None),
        Err(e) => Err(cluster(e)),
    }
}
