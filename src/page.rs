//! The status page at `/`: server-rendered HTML, no JavaScript, refreshed by itself; a summary of
//! sync states first, then one page of manifests (problems first), filtered by `?sync=`. It shows
//! only what /status shows (already redacted), and offers no action.

use std::fmt::Write;

use crate::status::{ManifestStatus, SyncState};

/// Rows per page: the page stays small whatever the number of manifests.
pub const PAGE_SIZE: usize = 100;

/// The query of `/`.
#[derive(Debug, Default)]
pub struct Query {
    pub sync: Option<String>,
    pub page: Option<usize>,
}

impl Query {
    /// `sync=STATE&page=N` (other keys ignored; the values are plain ASCII, not decoded).
    pub fn parse(query: &str) -> Self {
        let mut q = Query::default();
        for (k, v) in query.split('&').filter_map(|kv| kv.split_once('=')) {
            match k {
                "sync" => q.sync = Some(v.to_string()),
                "page" => q.page = v.parse().ok(),
                _ => {}
            }
        }
        q
    }
}

/// What the header says about this replica.
pub struct Header<'a> {
    pub role: &'a str,
    pub ready: bool,
    pub shards: &'a [usize],
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Problems first: Error, RolledBack, Blocked, OutOfSync, Progressing, Unknown, Synced.
fn rank(s: SyncState) -> u8 {
    match s {
        SyncState::Error => 0,
        SyncState::RolledBack => 1,
        SyncState::Blocked => 2,
        SyncState::OutOfSync => 3,
        SyncState::Progressing => 4,
        SyncState::Unknown => 5,
        SyncState::Synced => 6,
    }
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1280px;padding:12px;color:#1b1f24}\
h1{font-size:20px;margin:0 0 4px}header p{margin:0 0 12px;color:#57606a}\
nav.summary a{display:inline-block;margin:0 8px 8px 0;padding:4px 10px;border:1px solid #d0d7de;border-radius:12px;text-decoration:none;color:inherit}\
nav.summary a.on{background:#1b1f24;color:#fff}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #d0d7de;vertical-align:top}\
.sync{font-weight:600}.Synced{color:#1a7f37}.OutOfSync,.Progressing{color:#9a6700}.Error,.RolledBack,.Blocked{color:#cf222e}.Unknown{color:#57606a}\
.bar{background:#eaeef2;border-radius:4px;height:8px;width:160px}.bar i{display:block;height:8px;border-radius:4px;background:#0969da}\
small{color:#57606a}.err{color:#cf222e;word-break:break-word}\
@media(max-width:700px){thead{display:none}tr{display:block;border-bottom:1px solid #d0d7de;padding:6px 0}td{display:block;border:0;padding:2px 0}}";

/// The whole page for `all` manifests, `q` choosing the state and the page.
pub fn render(all: &[ManifestStatus], q: &Query, h: &Header<'_>) -> String {
    let wanted = q.sync.as_deref().filter(|s| SyncState::ALL.iter().any(|x| x.as_str() == *s));
    let mut rows: Vec<&ManifestStatus> = all.iter().filter(|m| wanted.is_none_or(|w| m.sync.as_str() == w)).collect();
    rows.sort_by(|a, b| rank(a.sync).cmp(&rank(b.sync)).then_with(|| a.manifest.cmp(&b.manifest)));
    let pages = rows.len().div_ceil(PAGE_SIZE).max(1);
    let page = q.page.unwrap_or(1).clamp(1, pages);
    let mut out = String::with_capacity(64 * 1024);
    let shards = if h.shards.is_empty() {
        String::new()
    } else {
        format!(" · shards {}", h.shards.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", "))
    };
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"refresh\" content=\"10\"><title>lambda-reconciler</title><style>{STYLE}</style></head>\
         <body><header><h1>lambda-reconciler</h1><p id=\"replica\">role {}{} · {} · {} manifest(s) · refreshed every 10 s</p></header>",
        esc(h.role),
        esc(&shards),
        if h.ready { "ready" } else { "not ready" },
        all.len()
    );
    summary(&mut out, all, wanted);
    out.push_str("<table><thead><tr><th>Manifest</th><th>Function</th><th>Region</th><th>Sync</th><th>Drift</th><th>Rollout</th><th>Last applied</th><th>Last error</th></tr></thead><tbody>");
    for m in rows.iter().skip((page - 1) * PAGE_SIZE).take(PAGE_SIZE) {
        row(&mut out, m);
    }
    out.push_str("</tbody></table>");
    if pages > 1 {
        let link = |p: usize| match wanted {
            Some(w) => format!("?sync={w}&amp;page={p}"),
            None => format!("?page={p}"),
        };
        let _ = write!(out, "<nav class=\"pages\"><p>page {page} of {pages} ");
        if page > 1 {
            let _ = write!(out, "<a href=\"{}\">previous</a> ", link(page - 1));
        }
        if page < pages {
            let _ = write!(out, "<a href=\"{}\">next</a>", link(page + 1));
        }
        out.push_str("</p></nav>");
    }
    out.push_str("</body></html>\n");
    out
}

/// One link per sync state with its count (the chosen one marked), and All.
fn summary(out: &mut String, all: &[ManifestStatus], wanted: Option<&str>) {
    out.push_str("<nav class=\"summary\">");
    let on = |yes: bool| if yes { " class=\"on\"" } else { "" };
    let _ = write!(out, "<a href=\"?\"{}>All {}</a>", on(wanted.is_none()), all.len());
    for s in SyncState::ALL {
        let n = all.iter().filter(|m| m.sync == s).count();
        if n > 0 {
            let name = s.as_str();
            let _ =
                write!(out, "<a href=\"?sync={name}\" id=\"count-{name}\"{}>{name} {n}</a>", on(wanted == Some(name)));
        }
    }
    out.push_str("</nav>");
}

fn row(out: &mut String, m: &ManifestStatus) {
    let sync = m.sync.as_str();
    let drift = m.drifted_fields.iter().map(|f| esc(f)).collect::<Vec<_>>().join("<br>");
    let mut rollout = String::new();
    for r in &m.rollouts {
        let alarms: Vec<String> = r.alarms.iter().map(|(a, s)| format!("{} {}", esc(a), esc(s))).collect();
        let _ = write!(
            rollout,
            "<div class=\"rollout\">{} {} → {}: {} step {}/{}, {}%<div class=\"bar\"><i style=\"width:{:.0}%\"></i></div><small>{}</small></div>",
            esc(&r.alias),
            esc(&r.from),
            esc(&r.to),
            esc(&r.phase),
            r.step,
            r.steps,
            r.weight,
            r.weight.clamp(0.0, 100.0),
            alarms.join(", ")
        );
    }
    let _ = write!(
        out,
        "<tr data-manifest=\"{}\"><td>{}<br><small>{}</small></td><td>{}</td><td>{}</td><td class=\"sync {sync}\">{sync}</td><td>{drift}</td><td>{rollout}</td><td>{}</td><td class=\"err\">{}</td></tr>",
        esc(&m.manifest),
        esc(&m.manifest),
        esc(&m.file),
        esc(&m.function),
        esc(&m.region),
        esc(m.last_applied.as_deref().unwrap_or("-")),
        esc(m.last_error.as_deref().unwrap_or("")),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(name: &str, sync: SyncState, error: Option<&str>) -> ManifestStatus {
        ManifestStatus {
            manifest: name.into(),
            file: format!("/m/{name}.yaml"),
            function: name.into(),
            region: "ap-northeast-1".into(),
            account: None,
            sync,
            drifted_fields: vec![],
            blocked: vec![],
            rollouts: vec![],
            progressing: vec![],
            last_applied: None,
            last_reconciled: None,
            last_error: error.map(str::to_string),
            generation: "g".into(),
            observed_generation: None,
        }
    }

    fn header() -> Header<'static> {
        Header { role: "single", ready: true, shards: &[] }
    }

    #[test]
    fn the_page_lists_problems_first_and_escapes_what_it_shows() {
        let all =
            [status("b-ok", SyncState::Synced, None), status("a-bad", SyncState::Error, Some("<script>x</script>"))];
        let html = render(&all, &Query::default(), &header());
        assert!(html.find("a-bad").unwrap() < html.find("b-ok").unwrap(), "Error before Synced");
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;") && !html.contains("<script>"), "escaped, no script");
        assert!(html.contains("id=\"count-Error\"") && html.contains("http-equiv=\"refresh\""));
    }

    #[test]
    fn a_sync_filter_and_pages_keep_the_page_small_at_any_size() {
        let all: Vec<ManifestStatus> = (0..250)
            .map(|i| {
                status(&format!("m{i:03}"), if i % 2 == 0 { SyncState::Synced } else { SyncState::OutOfSync }, None)
            })
            .collect();
        let html = render(&all, &Query { sync: Some("OutOfSync".into()), page: Some(2) }, &header());
        assert_eq!(html.matches("<tr data-manifest").count(), 25, "125 OutOfSync: 100 on page 1, 25 on page 2");
        assert!(
            !html.contains("SyncState") && html.contains("page 2 of 2") && html.contains("?sync=OutOfSync&amp;page=1")
        );
        let unknown = render(&all, &Query { sync: Some("<bogus>".into()), page: Some(99) }, &header());
        assert_eq!(
            unknown.matches("<tr data-manifest").count(),
            50,
            "an unknown state filters nothing; the page is clamped"
        );
    }
}
