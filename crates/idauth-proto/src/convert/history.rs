//! Conversions of the history query: public request and response, shard query and page.

use idauth_core::FactorResult;
use idauth_core::command::{HistoryEntry, HistoryPage, HistoryQuery};

use super::*;

/// A history request from the public API.
pub fn auth_history_call(request: v1::AuthHistoryRequest) -> Result<AuthHistoryCall> {
    let v1::AuthHistoryRequest {
        resident,
        page_size,
        page_token,
        token,
    } = request;
    let before = if page_token.is_empty() {
        None
    } else {
        Some(page_token.parse::<u64>().map_err(|_| {
            invalid(
                ErrorCode::BadRequest,
                "page_token is not one this service gave",
            )
        })?)
    };
    Ok(AuthHistoryCall {
        resident: resident_id(resident)?,
        page_size,
        before,
        only_token: (!token.is_empty()).then_some(token),
    })
}

/// The public answer to a history request.
pub fn auth_history_response(page: &HistoryPage, token: String) -> v1::AuthHistoryResponse {
    let HistoryPage {
        entries,
        next_before,
    } = page;
    v1::AuthHistoryResponse {
        entries: entries.iter().map(public_entry).collect(),
        next_page_token: next_before.map(|seq| seq.to_string()).unwrap_or_default(),
        token,
    }
}

fn public_entry(entry: &HistoryEntry) -> v1::HistoryEntry {
    let HistoryEntry {
        seq: _,
        time_ms,
        caller_id,
        token,
        operation,
        factors,
        decision,
        error,
        reference,
    } = entry;
    v1::HistoryEntry {
        time: Some(timestamp(*time_ms)),
        caller_id: caller_id.clone(),
        token: token.clone(),
        operation: operation.clone(),
        factors: factors.iter().map(v1::FactorResult::from).collect(),
        matched: decision.unwrap_or(false),
        error: error.map(v1::Error::from),
        reference: reference.clone(),
    }
}

/// The shard-API form of a history query.
pub fn history_query_to_wire(query: &HistoryQuery) -> internal::HistoryQuery {
    let HistoryQuery {
        caller_id,
        token,
        key,
        before,
        only_token,
        limit,
    } = query;
    internal::HistoryQuery {
        key: key.0.to_vec(),
        before: *before,
        limit: *limit,
        caller_id: caller_id.clone(),
        token: token.clone(),
        only_token: only_token.clone(),
    }
}

/// A history query from the shard API.
pub fn history_query(query: internal::HistoryQuery) -> Result<HistoryQuery> {
    let internal::HistoryQuery {
        key,
        before,
        limit,
        caller_id,
        token,
        only_token,
    } = query;
    Ok(HistoryQuery {
        caller_id,
        token,
        key: storage_key(&key)?,
        before,
        only_token,
        limit,
    })
}

/// The shard-API form of a history page.
pub fn history_page_to_wire(page: &HistoryPage) -> internal::HistoryPage {
    let HistoryPage {
        entries,
        next_before,
    } = page;
    internal::HistoryPage {
        entries: entries.iter().map(shard_entry_to_wire).collect(),
        next_before: *next_before,
    }
}

fn shard_entry_to_wire(entry: &HistoryEntry) -> internal::HistoryEntry {
    let HistoryEntry {
        seq,
        time_ms,
        caller_id,
        token,
        operation,
        factors,
        decision,
        error,
        reference,
    } = entry;
    internal::HistoryEntry {
        seq: *seq,
        time_ms: *time_ms,
        caller_id: caller_id.clone(),
        token: token.clone(),
        operation: operation.clone(),
        factors: factors.iter().map(internal::FactorResult::from).collect(),
        decision: *decision,
        error: error.map(internal::Error::from),
        reference: reference.clone(),
    }
}

/// A history page from the shard API.
pub fn history_page(page: internal::HistoryPage) -> HistoryPage {
    let internal::HistoryPage {
        entries,
        next_before,
    } = page;
    HistoryPage {
        entries: entries.into_iter().map(shard_entry).collect(),
        next_before,
    }
}

fn shard_entry(entry: internal::HistoryEntry) -> HistoryEntry {
    let internal::HistoryEntry {
        seq,
        time_ms,
        caller_id,
        token,
        operation,
        factors,
        decision,
        error,
        reference,
    } = entry;
    HistoryEntry {
        seq,
        time_ms,
        caller_id,
        token,
        operation,
        factors: factors
            .iter()
            .filter_map(|f| FactorResult::try_from(f).ok())
            .collect(),
        decision,
        error: error
            .as_ref()
            .map(|e| ErrorCode::try_from(e).unwrap_or(ErrorCode::Internal)),
        reference,
    }
}
