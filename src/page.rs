//! The status page at `/`: server-rendered HTML, no JavaScript, refreshed by itself; a summary of
//! sync states first, then one page of manifests (problems first) with their drift values,
//! filtered by `?sync=` and `?label=`, then the recent alerts. It shows only what /status shows
//! (already redacted), and offers no action.

use std::fmt::Write;

use crate::status::{AlertView, DriftValue, ManifestStatus, SyncState};

/// Rows per page: the page stays small whatever the number of manifests.
pub const PAGE_SIZE: usize = 100;

/// A drift value longer than this many characters is cut (the whole value is in /status).
const VALUE_CHARS: usize = 120;

/// The query of `/`.
#[derive(Debug, Default, Clone)]
pub struct Query {
    pub sync: Option<String>,
    pub page: Option<usize>,
    /// `KEY=VALUE` (that label with that value) or `KEY` (any value).
    pub label: Option<String>,
}

impl Query {
    /// `sync=STATE&label=KEY%3DVALUE&page=N`, percent-decoded (other keys ignored).
    pub fn parse(query: &str) -> Self {
        let mut q = Query::default();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "sync" => q.sync = Some(v.into_owned()),
                "page" => q.page = v.parse().ok(),
                "label" if !v.is_empty() => q.label = Some(v.into_owned()),
                _ => {}
            }
        }
        q
    }

    /// The label asked for as `(key, value)`, the value `None` for any.
    fn label(&self) -> Option<(&str, Option<&str>)> {
        let l = self.label.as_deref()?;
        Some(l.split_once('=').map_or((l, None), |(k, v)| (k, Some(v))))
    }

    /// A link to this query with `sync` and `page` replaced, escaped for an attribute.
    fn href(&self, sync: Option<&str>, page: Option<usize>) -> String {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        if let Some(s) = sync {
            ser.append_pair("sync", s);
        }
        if let Some(l) = &self.label {
            ser.append_pair("label", l);
        }
        if let Some(p) = page {
            ser.append_pair("page", &p.to_string());
        }
        esc(&format!("?{}", ser.finish()))
    }
}

/// What the header says about this replica.
pub struct Header<'a> {
    pub role: &'a str,
    pub ready: bool,
    pub shards: &'a [usize],
    /// The git revision of the manifests loaded now.
    pub revision: Option<&'a str>,
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
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:20px 0 8px}header p{margin:0 0 12px;color:#57606a}\
nav.summary a{display:inline-block;margin:0 8px 8px 0;padding:4px 10px;border:1px solid #d0d7de;border-radius:12px;text-decoration:none;color:inherit}\
nav.summary a.on{background:#1b1f24;color:#fff}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #d0d7de;vertical-align:top}\
.sync{font-weight:600}.Synced{color:#1a7f37}.OutOfSync,.Progressing{color:#9a6700}.Error,.RolledBack,.Blocked{color:#cf222e}.Unknown{color:#57606a}\
.bar{background:#eaeef2;border-radius:4px;height:8px;width:160px;max-width:100%}.bar i{display:block;height:8px;border-radius:4px;background:#0969da}\
small{color:#57606a}.err{color:#cf222e;word-break:break-word}code{font-size:12px;overflow-wrap:anywhere}\
a.label{display:inline-block;margin:2px 4px 0 0;padding:0 6px;border-radius:8px;background:#eaeef2;color:inherit;text-decoration:none;font-size:12px}\
ul.alerts{list-style:none;padding:0}ul.alerts li{padding:4px 0;border-bottom:1px solid #eaeef2;word-break:break-word}\
@media(max-width:700px){thead{display:none}tr{display:block;border-bottom:1px solid #d0d7de;padding:6px 0}td{display:block;border:0;padding:2px 0}\
td:empty{display:none}td[data-label]::before{content:attr(data-label) \": \";color:#57606a}}";

/// The whole page for `all` manifests and the recent `alerts`, `q` choosing the label, the state
/// and the page.
pub fn render(all: &[&ManifestStatus], alerts: &[AlertView], q: &Query, h: &Header<'_>) -> String {
    let wanted = q.sync.as_deref().filter(|s| SyncState::ALL.iter().any(|x| x.as_str() == *s));
    let label = q.label();
    let labelled: Vec<&ManifestStatus> = all
        .iter()
        .copied()
        .filter(|m| label.is_none_or(|(k, v)| m.labels.get(k).is_some_and(|x| v.is_none_or(|v| x == v))))
        .collect();
    let mut rows: Vec<&ManifestStatus> =
        labelled.iter().copied().filter(|m| wanted.is_none_or(|w| m.sync.as_str() == w)).collect();
    let pages = rows.len().div_ceil(PAGE_SIZE).max(1);
    let page = q.page.unwrap_or(1).clamp(1, pages);
    // Only the rows up to this page's last need their order: partition there, sort that part.
    let order = |a: &&ManifestStatus, b: &&ManifestStatus| {
        rank(a.sync)
            .cmp(&rank(b.sync))
            .then_with(|| a.manifest.cmp(&b.manifest))
            .then_with(|| (&a.region, &a.account, &a.function).cmp(&(&b.region, &b.account, &b.function)))
    };
    let end = (page * PAGE_SIZE).min(rows.len());
    if end < rows.len() {
        rows.select_nth_unstable_by(end, order);
    }
    rows[..end].sort_unstable_by(order);
    let mut out = String::with_capacity(64 * 1024);
    head(&mut out, all.len(), h);
    if let Some(l) = &q.label {
        let clear = Query { label: None, ..q.clone() }.href(wanted, None);
        let _ = write!(out, "<p id=\"label\">label {} · <a href=\"{clear}\">clear</a></p>", esc(l));
    }
    summary(&mut out, &labelled, wanted, q);
    out.push_str("<table><thead><tr><th>Manifest</th><th>Function</th><th>Region</th><th>Sync</th><th>Drift (git → AWS)</th><th>Rollout</th><th>Last applied</th><th>Last error</th></tr></thead><tbody>");
    for m in rows.iter().skip((page - 1) * PAGE_SIZE).take(PAGE_SIZE) {
        row(&mut out, m);
    }
    out.push_str("</tbody></table>");
    if pages > 1 {
        let _ = write!(out, "<nav class=\"pages\"><p>page {page} of {pages} ");
        if page > 1 {
            let _ = write!(out, "<a href=\"{}\">previous</a> ", q.href(wanted, Some(page - 1)));
        }
        if page < pages {
            let _ = write!(out, "<a href=\"{}\">next</a>", q.href(wanted, Some(page + 1)));
        }
        out.push_str("</p></nav>");
    }
    recent(&mut out, alerts);
    out.push_str("</body></html>\n");
    out
}

fn head(out: &mut String, total: usize, h: &Header<'_>) {
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
         <body><header><h1>lambda-reconciler</h1><p id=\"replica\">role {}{} · {} · {} · {total} manifest(s) · refreshed every 10 s</p>{}</header>",
        esc(h.role),
        esc(&shards),
        if h.ready { "ready" } else { "not ready" },
        h.revision.map_or("revision unknown".to_string(), |r| format!("synced to <code id=\"revision\">{}</code>", esc(&crate::types::short_revision(r)))),
        match (h.role, h.shards.is_empty()) {
            ("follower", _) => "<p id=\"note\">This replica is a follower: it reconciles nothing and shows no manifest. \
                The leader's page has them (the replica whose <code>/readyz</code> says <code>ready</code>).</p>",
            (_, false) => "<p id=\"note\">This replica shows the manifests of the shards it holds; the other shards are on the other replicas' pages.</p>",
            _ => "",
        }
    );
}

/// One link per sync state with its count (the chosen one marked), and All.
fn summary(out: &mut String, all: &[&ManifestStatus], wanted: Option<&str>, q: &Query) {
    out.push_str("<nav class=\"summary\">");
    let on = |yes: bool| if yes { " class=\"on\"" } else { "" };
    let _ = write!(out, "<a href=\"{}\"{}>All {}</a>", q.href(None, None), on(wanted.is_none()), all.len());
    for s in SyncState::ALL {
        let n = all.iter().filter(|m| m.sync == s).count();
        if n > 0 {
            let name = s.as_str();
            let _ = write!(
                out,
                "<a href=\"{}\" id=\"count-{name}\"{}>{name} {n}</a>",
                q.href(Some(name), None),
                on(wanted == Some(name))
            );
        }
    }
    out.push_str("</nav>");
}

/// A drift value as one short line: strings bare, anything else as compact JSON, cut at
/// [`VALUE_CHARS`].
fn value(v: &serde_json::Value) -> String {
    let text = match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "(none)".into(),
        other => other.to_string(),
    };
    if text.chars().count() > VALUE_CHARS {
        format!("{}…", text.chars().take(VALUE_CHARS).collect::<String>())
    } else {
        text
    }
}

fn drift(m: &ManifestStatus) -> String {
    let one = |x: &DriftValue| {
        let by = x.changed_by.as_ref().map_or("unknown".to_string(), |c| {
            format!("{} ({}, {} at {})", value(&c.principal.as_str().into()), c.principal_type, c.call, c.at)
        });
        format!(
            "<div class=\"drift\"><code>{}</code><br><small>git <b class=\"desired\">{}</b> · AWS <b class=\"actual\">{}</b> · by <span class=\"by\">{}</span></small></div>",
            esc(&x.field),
            esc(&value(&x.desired)),
            esc(&value(&x.actual)),
            esc(&by)
        )
    };
    m.drift.iter().map(one).collect()
}

fn rollout(m: &ManifestStatus) -> String {
    let mut out = String::new();
    for r in &m.rollouts {
        let mut notes: Vec<String> = r.alarms.iter().map(|(a, s)| format!("alarm {} {}", esc(a), esc(s))).collect();
        match &r.waiting_for_approval {
            Some(w) => notes.push(format!("<b class=\"approval\">{}</b>", esc(w))),
            None => notes.extend(r.next_step_at.iter().map(|t| format!("next step {}", esc(t)))),
        }
        notes.extend(r.reason.iter().map(|why| esc(why)));
        notes.extend(r.judge.iter().map(|j| format!("<span class=\"judge\">{}</span>", esc(&j.line()))));
        notes.extend(r.release.iter().map(|v| format!("<span class=\"release\">{}</span>", esc(&v.line()))));
        let _ = write!(
            out,
            "<div class=\"rollout\">{} {} → {}: {} step {}/{}, {}%<div class=\"bar\"><i style=\"width:{:.0}%\"></i></div><small>{}</small></div>",
            esc(&r.alias),
            esc(&r.from),
            esc(&r.to),
            esc(&r.phase),
            r.step,
            r.steps,
            r.weight,
            r.weight.clamp(0.0, 100.0),
            notes.join(" · ")
        );
    }
    out
}

fn row(out: &mut String, m: &ManifestStatus) {
    let sync = m.sync.as_str();
    let labels: String = m
        .labels
        .iter()
        .map(|(k, v)| {
            let q = Query { label: Some(format!("{k}={v}")), ..Query::default() };
            format!("<a class=\"label\" href=\"{}\">{}={}</a>", q.href(None, None), esc(k), esc(v))
        })
        .collect();
    let _ = write!(
        out,
        "<tr data-manifest=\"{}\" data-sync=\"{sync}\"><td>{}<br><small>{}</small><br>{labels}</td><td data-label=\"function\">{}</td><td data-label=\"region\">{}</td><td class=\"sync {sync}\">{sync}</td><td data-label=\"drift\">{}</td><td data-label=\"rollout\">{}</td><td data-label=\"last applied\">{}</td><td class=\"err\" data-label=\"last error\">{}</td></tr>",
        esc(&m.manifest),
        esc(&m.manifest),
        esc(&m.file),
        esc(&m.function),
        esc(&m.region),
        drift(m),
        rollout(m),
        esc(&match (&m.last_applied, &m.revision) {
            (Some(t), Some(r)) => format!("{t} from {}", crate::types::short_revision(r)),
            (Some(t), None) => t.clone(),
            (None, Some(r)) => format!("from {}", crate::types::short_revision(r)),
            (None, None) => "-".into(),
        }),
        esc(m.last_error.as_deref().unwrap_or("")),
    );
}

/// The latest alerts, newest first (already redacted by the planner).
fn recent(out: &mut String, alerts: &[AlertView]) {
    let _ = write!(out, "<section id=\"alerts\"><h2>Recent alerts ({})</h2>", alerts.len());
    if alerts.is_empty() {
        out.push_str("<p><small>none since this replica started</small></p>");
    }
    out.push_str("<ul class=\"alerts\">");
    for a in alerts {
        let _ = write!(
            out,
            "<li data-kind=\"{}\"><small>{}</small> <b>{}</b> {}</li>",
            esc(&a.kind),
            esc(&a.time),
            esc(&a.kind),
            esc(&a.text)
        );
    }
    out.push_str("</ul></section>");
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
            drift: vec![],
            labels: Default::default(),
            blocked: vec![],
            rollouts: vec![],
            progressing: vec![],
            last_applied: None,
            last_reconciled: None,
            last_error: error.map(str::to_string),
            generation: "g".into(),
            observed_generation: None,
            revision: None,
        }
    }

    fn header() -> Header<'static> {
        Header { role: "single", ready: true, shards: &[], revision: None }
    }

    fn page(all: &[ManifestStatus], q: &Query) -> String {
        let refs: Vec<&ManifestStatus> = all.iter().collect();
        render(&refs, &[], q, &header())
    }

    #[test]
    fn the_page_lists_problems_first_and_escapes_what_it_shows() {
        let all =
            [status("b-ok", SyncState::Synced, None), status("a-bad", SyncState::Error, Some("<script>x</script>"))];
        let html = page(&all, &Query::default());
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
        let html = page(&all, &Query { sync: Some("OutOfSync".into()), page: Some(2), label: None });
        assert_eq!(html.matches("<tr data-manifest").count(), 25, "125 OutOfSync: 100 on page 1, 25 on page 2");
        assert!(
            !html.contains("SyncState") && html.contains("page 2 of 2") && html.contains("?sync=OutOfSync&amp;page=1")
        );
        let unknown = page(&all, &Query { sync: Some("<bogus>".into()), page: Some(99), label: None });
        assert_eq!(
            unknown.matches("<tr data-manifest").count(),
            50,
            "an unknown state filters nothing; the page is clamped"
        );
    }

    #[test]
    fn every_page_continues_the_order_of_the_one_before() {
        let states = [SyncState::Synced, SyncState::Error, SyncState::OutOfSync, SyncState::Unknown];
        // Names in a scrambled order, states interleaved: the pages must still read in order.
        let all: Vec<ManifestStatus> =
            (0..250).map(|i| status(&format!("m{:03}", (i * 97) % 250), states[i % 4], None)).collect();
        let names = |html: &str| -> Vec<(u8, String)> {
            html.split("<tr data-manifest=\"")
                .skip(1)
                .map(|r| {
                    let name = r.split('"').next().unwrap().to_string();
                    let sync = r.split("data-sync=\"").nth(1).unwrap().split('"').next().unwrap();
                    (rank(SyncState::ALL.into_iter().find(|s| s.as_str() == sync).unwrap()), name)
                })
                .collect()
        };
        let seen: Vec<(u8, String)> =
            (1..=3).flat_map(|p| names(&page(&all, &Query { page: Some(p), ..Query::default() }))).collect();
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen.len(), 250);
        assert_eq!(seen, sorted, "problems first, then by name, across pages");
    }

    #[test]
    fn drift_shows_each_field_with_its_git_and_aws_values_and_who_made_it_escaped_and_cut() {
        let mut m = status("drifty", SyncState::OutOfSync, None);
        m.drift = vec![
            DriftValue {
                field: "reservedConcurrency".into(),
                desired: 3.into(),
                actual: 9.into(),
                changed_by: Some(crate::types::ChangedBy::new(
                    "IAMUser",
                    "arn:aws:iam::1:user/<al>",
                    "PutFunctionConcurrency",
                    "2026-12-04T10:00:00Z",
                )),
            },
            DriftValue {
                field: "environment.variables.DB_PASSWORD".into(),
                desired: "(sensitive)".into(),
                actual: "<b>".into(),
                changed_by: None,
            },
            DriftValue {
                field: "description".into(),
                desired: "x".repeat(500).into(),
                actual: serde_json::Value::Null,
                changed_by: None,
            },
        ];
        let html = page(&[m], &Query::default());
        assert!(html.contains("<code>reservedConcurrency</code><br><small>git <b class=\"desired\">3</b> · AWS <b class=\"actual\">9</b>"), "{html}");
        assert!(html.contains("<b class=\"desired\">(sensitive)</b> · AWS <b class=\"actual\">&lt;b&gt;</b>"));
        assert!(html.contains(&format!("{}…", "x".repeat(120))) && !html.contains(&"x".repeat(121)));
        assert!(html.contains("<b class=\"actual\">(none)</b>"));
        let by = "by <span class=\"by\">arn:aws:iam::1:user/&lt;al&gt; (IAMUser, PutFunctionConcurrency at 2026-12-04T10:00:00Z)</span>";
        assert!(html.contains(by), "{html}");
        assert!(html.contains("by <span class=\"by\">unknown</span>"));
    }

    #[test]
    fn a_label_filter_keeps_its_manifests_counts_them_and_survives_every_link() {
        let mut pay = status("pay", SyncState::Error, None);
        pay.labels.insert("team".into(), "pay & cards".into());
        let mut search = status("search", SyncState::Error, None);
        search.labels.insert("team".into(), "search".into());
        let plain = status("plain", SyncState::Synced, None);
        let all = [pay, search, plain];
        let q = Query::parse("label=team%3Dpay+%26+cards&sync=Error");
        assert_eq!(q.label.as_deref(), Some("team=pay & cards"));
        let html = page(&all, &q);
        assert_eq!(html.matches("<tr data-manifest").count(), 1, "{html}");
        assert!(html.contains("data-manifest=\"pay\"") && html.contains("id=\"count-Error\" class=\"on\">Error 1</a>"));
        assert!(!html.contains("id=\"count-Synced\""), "counts are of the labelled manifests");
        assert!(html.contains("<a href=\"?label=team%3Dpay+%26+cards\">All 1</a>"), "All keeps the label: {html}");
        assert!(
            html.contains("<a class=\"label\" href=\"?label=team%3Dpay+%26+cards\">team=pay &amp; cards</a>"),
            "{html}"
        );
        let any_team = page(&all, &Query::parse("label=team"));
        assert_eq!(any_team.matches("<tr data-manifest").count(), 2, "a bare key matches any value");
    }

    #[test]
    fn a_follower_says_where_the_manifests_are_shown() {
        let html =
            render(&[], &[], &Query::default(), &Header { role: "follower", ready: true, shards: &[], revision: None });
        assert!(html.contains("id=\"note\">This replica is a follower"), "{html}");
        assert!(!page(&[], &Query::default()).contains("id=\"note\""), "a single replica needs no note");
    }

    #[test]
    fn recent_alerts_are_listed_newest_first_and_escaped() {
        let alerts = [
            AlertView { time: "t2".into(), kind: "Drift".into(), manifest: None, text: "<new>".into() },
            AlertView { time: "t1".into(), kind: "ApplyFailed".into(), manifest: None, text: "old".into() },
        ];
        let html = render(&[], &alerts, &Query::default(), &header());
        assert!(html.contains("Recent alerts (2)") && html.find("&lt;new&gt;").unwrap() < html.find("old").unwrap());
        assert!(html.contains("<li data-kind=\"Drift\">"));
    }
}
