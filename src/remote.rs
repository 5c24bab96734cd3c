//! The commands that talk to a running controller's admin listener: `status --server` (every page of /status) and `promote`/`abort`/`retry --server`.

use std::path::Path;

use serde_json::Value;

use crate::alerts::http::{HttpClient, ADMIN};
use crate::cli::Output;

/// Pages of /status read at most (with 500 entries a page: half a million manifests), so a server
/// that never says it is done cannot keep the command running.
const MAX_PAGES: usize = 1_000;
/// Bytes of /status read in all pages together: a hostile server cannot grow the command past it.
const MAX_STATUS_BYTES: usize = 64 * 1024 * 1024;
/// How long all pages together may take.
const STATUS_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

/// The Authorization header for a controller's admin listener, from `--admin-token-file`.
fn admin_headers(token_file: Option<&Path>) -> Result<Vec<(&'static str, String)>, String> {
    let Some(path) = token_file else { return Ok(vec![]) };
    let token = std::fs::read_to_string(path).map_err(|e| format!("--admin-token-file {}: {e}", path.display()))?;
    Ok(vec![("authorization", format!("Bearer {}", token.trim()))])
}

/// Every page of `server`'s /status, as one document: the first page's fields, with the
/// manifests of all pages.
async fn fetch_status(client: &HttpClient, server: &str, headers: &[(&str, String)]) -> Result<Value, String> {
    let all = tokio::time::timeout(STATUS_DEADLINE, fetch_pages(client, server, headers)).await;
    all.unwrap_or_else(|_| Err(format!("{server}: /status took longer than {}s", STATUS_DEADLINE.as_secs())))
}

/// The pages of [`fetch_status`]: each must start where the last ended (`next` = offset + its
/// entries), and all together stay under [`MAX_STATUS_BYTES`].
async fn fetch_pages(client: &HttpClient, server: &str, headers: &[(&str, String)]) -> Result<Value, String> {
    let base = server.trim_end_matches('/');
    let mut bytes = 0usize;
    let limit = crate::admin::limits::STATUS_PAGE_MAX;
    let (mut doc, mut manifests, mut offset) = (Value::Null, Vec::new(), 0usize);
    for _ in 0..MAX_PAGES {
        let url = format!("{base}/status?offset={offset}&limit={limit}");
        let body = client.send_with("GET", &url, None, headers).await.map_err(|e| format!("{server}: {e}"))?;
        bytes += body.len();
        if bytes > MAX_STATUS_BYTES {
            return Err(format!("{server}: /status is over {MAX_STATUS_BYTES} bytes in all"));
        }
        let mut page: Value = serde_json::from_str(&body).map_err(|_| format!("{server}: /status is not JSON"))?;
        let entries = match page.get_mut("manifests").map(Value::take) {
            Some(Value::Array(m)) => m,
            _ => vec![],
        };
        let count = entries.len();
        manifests.extend(entries);
        let next = page["next"].as_u64().map(|n| n as usize);
        if doc.is_null() {
            doc = page;
        }
        match next {
            Some(n) if count > 0 && n == offset + count => offset = n,
            Some(_) => {
                return Err(format!("{server}: /status pages do not follow on (offset {offset}, {count} entries)"))
            }
            None => break,
        }
    }
    if let Some(o) = doc.as_object_mut() {
        for paging in ["offset", "limit", "next"] {
            o.remove(paging);
        }
        o.insert("manifests".into(), Value::Array(manifests));
    }
    Ok(doc)
}

/// `status`: fetches /status (every page) from a running controller and prints it like
/// `kubectl get`.
pub async fn status(server: &str, output: Output, token_file: Option<&Path>) -> i32 {
    let headers = match admin_headers(token_file) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let doc = match HttpClient::new(ADMIN).map_err(|e| e.to_string()) {
        Ok(client) => fetch_status(&client, server, &headers).await,
        Err(e) => Err(e),
    };
    let doc = match doc {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    if output == Output::Json {
        println!("{doc}");
        return 0;
    }
    print!("{}", manifest_table(&doc));
    let rollouts = rollout_rows(&doc);
    if !rollouts.is_empty() {
        println!();
        print!("{}", table(["ROLLOUT", "VERSIONS", "PHASE", "STEP", "WEIGHT", "NEXT STEP", "ALARMS"], &rollouts));
    }
    0
}

fn manifest_table(doc: &Value) -> String {
    let empty = vec![];
    let rows: Vec<[String; 7]> = doc["manifests"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .map(|m| {
            let s = |k: &str| m[k].as_str().unwrap_or("-").to_string();
            let drift = m["driftedFields"].as_array().map(|a| a.len()).unwrap_or(0);
            [s("manifest"), s("function"), s("region"), s("sync"), drift.to_string(), s("lastApplied"), s("lastError")]
        })
        .collect();
    table(["MANIFEST", "FUNCTION", "REGION", "SYNC", "DRIFTED", "LAST APPLIED", "LAST ERROR"], &rows)
}

fn rollout_rows(doc: &Value) -> Vec<[String; 7]> {
    let empty = vec![];
    doc["manifests"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .flat_map(|m| {
            let function = m["function"].as_str().unwrap_or("-").to_string();
            m["rollouts"].as_array().cloned().unwrap_or_default().into_iter().map(move |r| {
                let s = |k: &str| r[k].as_str().map_or("-".to_string(), str::to_string);
                let step = format!("{}/{}", r["step"], r["steps"]);
                let alarms: Vec<String> = r["alarms"]
                    .as_array()
                    .unwrap_or(&vec![])
                    .iter()
                    .map(|a| format!("{}={}", a[0].as_str().unwrap_or(""), a[1].as_str().unwrap_or("")))
                    .collect();
                let phase = match r["reason"].as_str() {
                    Some(reason) => format!("{} ({reason})", s("phase")),
                    None => s("phase"),
                };
                [
                    format!("{function}/{}", s("alias")),
                    format!("{} → {}", s("from"), s("to")),
                    phase,
                    step,
                    format!("{}%", r["weight"].as_f64().unwrap_or(0.0)),
                    s("nextStepAt"),
                    alarms.join(" "),
                ]
            })
        })
        .collect()
}

/// Left-aligned columns separated by three spaces (the `kubectl get` look).
fn table<const N: usize>(head: [&str; N], rows: &[[String; N]]) -> String {
    // The server's strings reach a terminal: control characters (escape sequences) are replaced.
    let clean = |c: &String| c.chars().map(|ch| if ch.is_control() { '?' } else { ch }).collect::<String>();
    let rows: Vec<[String; N]> = rows.iter().map(|r| r.each_ref().map(clean)).collect();
    let rows = &rows;
    let mut widths = head.map(str::len);
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        padded.join("   ").trim_end().to_string() + "\n"
    };
    let mut out = line(head.to_vec());
    for r in rows {
        out += &line(r.iter().map(String::as_str).collect());
    }
    out
}

/// `promote`, `abort` or `retry` (`action`) of `(region, function, alias)` through the
/// controller at `server`: a JSON POST (`{}`), which the admin listener wants of a command.
pub async fn operate(
    server: &str,
    (region, function, alias): (&str, &str, &str),
    action: &str,
    token_file: Option<&Path>,
) -> Result<String, String> {
    let url = format!("{}/rollouts/{region}/{function}/{alias}/{action}", server.trim_end_matches('/'));
    let headers = admin_headers(token_file)?;
    let client = HttpClient::new(ADMIN).map_err(|e| e.to_string())?;
    let body = client.send_with("POST", &url, Some("{}".to_string()), &headers).await.map_err(|e| e.to_string())?;
    let doc: Value = serde_json::from_str(&body).unwrap_or_default();
    let message = doc["message"].as_str().unwrap_or(&body).to_string();
    if doc["ok"] == true {
        Ok(message)
    } else {
        Err(message)
    }
}
