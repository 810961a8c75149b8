//! `idauth history`: a resident's authentication history, as a resident portal sees it.

use idauth_proto::convert;
use idauth_proto::status::code_of;
use idauth_proto::v1::AuthHistoryRequest;
use serde_json::json;

use super::{ExitCode, connect, error_json, refusal, runtime};
use crate::cli::HistoryArgs;

/// `idauth history`: exit 0 with the entries, 2 when refused.
pub fn history(args: &HistoryArgs) -> anyhow::Result<ExitCode> {
    let resident = super::request::identifier_of(&args.id, args.id_type)?;
    runtime()?.block_on(async {
        let client = connect(&args.client).await?;
        let mut entries = Vec::new();
        let mut page_token = args.page_token.clone();
        let (token, next) = loop {
            let request = AuthHistoryRequest {
                resident: Some(resident.clone()),
                page_size: args.page_size,
                page_token: page_token.clone(),
                token: args.token.clone(),
            };
            let page = match client.auth_history(request).await {
                Ok(page) => page,
                Err(error) => {
                    let error = error_json(refusal(error)?);
                    if args.client.json {
                        println!("{}", json!({ "entries": [], "error": error }));
                    } else {
                        println!("refused: {} {}", error["code"], error["action_hint"]);
                    }
                    return Ok(2);
                }
            };
            entries.extend(page.entries.iter().map(entry_json));
            page_token = page.next_page_token;
            if !args.all || page_token.is_empty() {
                break (page.token, page_token);
            }
        };
        if args.client.json {
            let value = json!({ "entries": entries, "next_page_token": next, "token": token });
            println!("{value}");
        } else {
            for entry in &entries {
                print_entry(entry);
            }
            if !next.is_empty() {
                println!("more: --page-token {next}");
            }
        }
        Ok(0)
    })
}

fn entry_json(entry: &idauth_proto::v1::HistoryEntry) -> serde_json::Value {
    let factors: Vec<serde_json::Value> = entry
        .factors
        .iter()
        .filter_map(|f| idauth_core::FactorResult::try_from(f).ok())
        .map(|f| json!({"factor": f.factor.name(), "matched": f.matched}))
        .collect();
    let time_ms = convert::timestamp_ms(entry.time).unwrap_or_default();
    json!({
        "time_ms": time_ms,
        "caller_id": entry.caller_id,
        "token": entry.token,
        "operation": entry.operation,
        "factors": factors,
        "matched": entry.matched,
        "error": entry.error.as_ref().and_then(code_of).map(error_json),
        "reference": entry.reference,
    })
}

fn print_entry(entry: &serde_json::Value) {
    let outcome = match (&entry["error"], entry["operation"].as_str()) {
        (serde_json::Value::Object(error), _) => {
            format!("{} {}", error["code"], error["name"].as_str().unwrap_or(""))
        }
        (_, Some("verify")) if entry["matched"] == true => "MATCH".into(),
        _ => "ok".into(),
    };
    println!(
        "{} {} {} {} {}",
        entry["time_ms"],
        entry["caller_id"].as_str().unwrap_or(""),
        entry["operation"].as_str().unwrap_or(""),
        outcome,
        entry["reference"].as_str().unwrap_or("")
    );
}
