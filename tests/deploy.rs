//! The deployment files under `deploy/`, each checked by the tool that reads it: Prometheus's
//! rules and scrape configuration by `promtool` (and the rules' calendar logic by `promtool test
//! rules`), the Grafana dashboard's queries by `promtool` too, the systemd unit by
//! `systemd-analyze verify`, the nginx site by `nginx -t` and then by a real nginx in front of
//! a real console; and every metric the alerts and the dashboard name is one a running engine
//! exposes on its full `/metrics`. The compose file goes through `docker compose config` where
//! Docker Compose is installed; otherwise it is parsed with PyYAML when Python has it, and
//! checked by text alone when not. The Dockerfile is only checked by text (no build here).
//!
//! A missing tool skips its check with a line saying so, except under CI (`CI` set), where
//! it fails naming the Debian package to install.

mod cli;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use cli::{command, kite_vault, request, wait_for, KiteRunConfig, Run};
use dalal_brokers::fake::kite::{FakeKite, FakeUser};

const LIMIT: Duration = Duration::from_secs(60);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Whether `tool ARGS` runs. When it does not: under CI a failure naming the Debian package,
/// otherwise a "skipped" line and `false`.
fn have(tool: &str, args: &[&str], package: &str, check: &str) -> bool {
    match Command::new(tool).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Ok(s) if s.success() => true,
        _ if std::env::var_os("CI").is_some() => {
            panic!("{tool} is needed to check {check}: apt-get install {package}")
        }
        _ => {
            println!("skipped: {check} ({tool} not found; apt-get install {package})");
            false
        }
    }
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Runs `cmd` and fails with its output unless it succeeds; returns the output.
fn succeeds(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let t = text(&o);
    assert!(o.status.success(), "{cmd:?} failed:\n{t}");
    t
}

fn write(path: &Path, content: &str) {
    std::fs::write(path, content).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// `docs/operations.md#anchor` for a heading, as GitHub makes anchors: lower case, spaces to
/// hyphens, other punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// Each `- alert:` of a rules file: its name and its lines up to the next rule or group.
fn alert_blocks(rules: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in rules.lines() {
        let t = line.trim_start();
        if t.starts_with("- alert:") || t.starts_with("- record:") || t.starts_with("- name:") {
            out.extend(current.take());
            if let Some(name) = t.strip_prefix("- alert:") {
                current = Some((name.trim().to_string(), String::new()));
            }
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(t);
            body.push('\n');
        }
    }
    out.extend(current);
    out
}

/// Names matching `dalal_[a-z0-9_]+` in `text`, outside `#` comment lines.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let b = line.as_bytes();
        let mut i = 0;
        while let Some(at) = line[i..].find("dalal_") {
            let start = i + at;
            let word_start = start == 0 || !(b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'_');
            let mut end = start + "dalal_".len();
            while end < b.len() && (b[end].is_ascii_lowercase() || b[end].is_ascii_digit() || b[end] == b'_') {
                end += 1;
            }
            if word_start && end > start + "dalal_".len() {
                names.insert(line[start..end].to_string());
            }
            i = end;
        }
    }
    names
}

/// The metric families an exposition has: `# TYPE` lines (a counter with no series yet, such
/// as rejections by reason before the first one, is still exposed) and sample names.
fn exposed(exposition: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in exposition.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            names.extend(rest.split_whitespace().next().map(String::from));
        } else if !line.starts_with('#') && !line.is_empty() {
            names.extend(line.split(['{', ' ']).next().map(String::from));
        }
    }
    names
}

/// The dashboard's PromQL, every `expr` of a panel target and the template queries.
fn dashboard_exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("expr", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => dashboard_exprs(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| dashboard_exprs(x, out)),
        _ => {}
    }
}

fn dashboard() -> serde_json::Value {
    serde_json::from_str(&read("deploy/grafana/dalal.json")).expect("deploy/grafana/dalal.json is JSON")
}

/// The rules file in a form `promtool test rules` can take: its rules as they are, with
/// alerting tests written as counts of firing `ALERTS` (so the annotations' wording is free).
/// The test clock starts on Thursday 1970-01-01 00:00 UTC (05:30 IST).
fn rule_tests(rules: &Path) -> String {
    let firing = |name: &str, at: &str, n: u8| {
        format!(
            "      - expr: count(ALERTS{{alertname=\"{name}\",alertstate=\"firing\"}}) or vector(0)\n        eval_time: {at}\n        exp_samples:\n          - labels: '{{}}'\n            value: {n}\n"
        )
    };
    let group = |series: &[(&str, &str)], checks: &[(&str, &str, u8)]| {
        let mut g = String::from("  - interval: 1m\n    input_series:\n");
        for (s, values) in series {
            g.push_str(&format!("      - series: '{s}'\n        values: '{values}'\n"));
        }
        g.push_str("    promql_expr_test:\n");
        for (name, at, n) in checks {
            g.push_str(&firing(name, at, *n));
        }
        g
    };
    let mut t = format!("rule_files:\n  - {}\nevaluation_interval: 1m\ntests:\n", rules.display());
    // Engine down and no ticks: only on weekdays, inside trading and market hours (IST).
    t.push_str(&group(
        &[
            ("up{job=\"dalal\",instance=\"e\"}", "0x5000"),
            ("dalal_ticks_in_total{job=\"dalal\",instance=\"e\"}", "0x5000"),
        ],
        &[
            ("DalalEngineDown", "2h", 0),  // 07:30 IST
            ("DalalEngineDown", "4h", 1),  // 09:30 IST
            ("DalalEngineDown", "11h", 0), // 16:30 IST
            ("DalalEngineDown", "77h", 0), // Sunday 10:30 IST
            ("DalalNoTicks", "3h", 0),     // 08:30 IST, before the open
            ("DalalNoTicks", "4h", 1),
            ("DalalNoTicks", "77h", 0),
        ],
    ));
    // Ticks flowing, an engine that answers: nothing.
    t.push_str(&group(
        &[
            ("up{job=\"dalal\",instance=\"e\"}", "1x500"),
            ("dalal_ticks_in_total{job=\"dalal\",instance=\"e\"}", "0+600x500"),
        ],
        &[("DalalEngineDown", "4h", 0), ("DalalNoTicks", "4h", 0)],
    ));
    // A feed that never delivered a frame (+Inf) and one that is live; sessions; rejections.
    t.push_str(&group(
        &[
            ("dalal_feed_last_frame_age_seconds{job=\"dalal\",feed=\"kite:a\"}", "Inf Inf Inf Inf Inf"),
            ("dalal_feed_last_frame_age_seconds{job=\"dalal\",feed=\"kite:b\"}", "1 1 1 1 1"),
            ("dalal_broker_session_healthy{job=\"dalal\",login=\"z\"}", "0x10"),
            ("dalal_broker_session_healthy{job=\"dalal\",login=\"y\"}", "1x10"),
            ("dalal_kill_switch_accounts_engaged{job=\"dalal\"}", "1x10"),
            ("dalal_kill_switch{job=\"dalal\",scope=\"account\",account=\"alice\"}", "1x10"),
            ("dalal_kill_switch{job=\"dalal\",scope=\"global\"}", "0x10"),
        ],
        &[
            ("DalalFeedStale", "3m", 1),
            ("DalalBrokerSessionUnhealthy", "3m", 1),
            ("DalalAccountKillSwitchEngaged", "1m", 1),
            ("DalalGlobalKillSwitchEngaged", "1m", 0),
        ],
    ));
    t.push_str(&group(
        &[
            ("dalal_orders_total{job=\"dalal\",instance=\"a\"}", "0+10x100"),
            ("dalal_orders_rejected_total{job=\"dalal\",instance=\"a\"}", "0+5x100"),
            ("dalal_orders_total{job=\"dalal\",instance=\"b\"}", "0+10x100"),
            ("dalal_orders_rejected_total{job=\"dalal\",instance=\"b\"}", "0+1x100"),
        ],
        &[("DalalOrderRejectionRateHigh", "30m", 1)],
    ));
    t
}

#[test]
fn prometheus_rules_and_scrape_config_pass_promtool() {
    let rules = read("deploy/prometheus/alerts.yml");
    let config = read("deploy/prometheus/prometheus.yml");
    let docs = read("docs/operations.md");

    // What promtool does not look at: every alert waits (`for`), has a severity, a summary
    // and a description that names its section of the operations guide, which exists.
    let headings: BTreeSet<String> =
        docs.lines().filter_map(|l| l.strip_prefix('#')).map(|h| anchor(h.trim_start_matches('#'))).collect();
    let alerts = alert_blocks(&rules);
    assert!(alerts.len() >= 15, "{} alerts", alerts.len());
    for (name, body) in &alerts {
        for key in ["for:", "severity:", "summary:", "description:"] {
            assert!(body.lines().any(|l| l.starts_with(key)), "alert {name} has no `{key}`");
        }
        let link = format!("docs/operations.md#{}", name.to_lowercase());
        assert!(body.contains(&link), "alert {name}'s description does not point to {link}");
        assert!(headings.contains(&name.to_lowercase()), "docs/operations.md has no section `{name}`");
    }
    for link in rules.split("docs/operations.md#").skip(1) {
        let a: String = link.chars().take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_').collect();
        assert!(headings.contains(&a), "docs/operations.md has no section for #{a}");
    }
    let names: BTreeSet<&str> = alerts.iter().map(|(n, _)| n.as_str()).collect();
    for needed in [
        "DalalEngineDown",
        "DalalFeedStale",
        "DalalNoTicks",
        "DalalIngressBacklogHigh",
        "DalalTickToOrderP99High",
        "DalalOrderRejectionRateHigh",
        "DalalRiskRejectionsHigh",
        "DalalBrokerSessionUnhealthy",
        "DalalBrokerErrors",
        "DalalStoreUnavailable",
        "DalalStoreUnwritten",
        "DalalRedisDown",
        "DalalGlobalKillSwitchEngaged",
        "DalalAccountKillSwitchEngaged",
    ] {
        assert!(names.contains(needed), "no alert {needed}");
    }
    assert!(rules.contains("up{job=\"dalal\"} == 0"), "the engine-down alert is on job dalal");
    assert!(config.contains("job_name: dalal") && config.contains("- alerts.yml"), "{config}");
    assert!(config.contains("credentials_file: /etc/prometheus/dalal-metrics.token"), "{config}");

    if !have("promtool", &["--version"], "prometheus", "the Prometheus rules and configuration") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // promtool check rules deploy/prometheus/alerts.yml
    let out =
        succeeds(Command::new("promtool").args(["check", "rules"]).arg(repo().join("deploy/prometheus/alerts.yml")));
    assert!(out.contains("SUCCESS"), "{out}");

    // promtool check config: the scrape's credentials file must exist, so the configuration is
    // copied beside the rules with that one path pointing at a token file in the temp dir.
    let token = dir.path().join("dalal-metrics.token");
    write(&token, "a-scrape-token\n");
    std::fs::copy(repo().join("deploy/prometheus/alerts.yml"), dir.path().join("alerts.yml")).expect("copy");
    let copied = config.replace("/etc/prometheus/dalal-metrics.token", &token.display().to_string());
    write(&dir.path().join("prometheus.yml"), &copied);
    let out = succeeds(Command::new("promtool").args(["check", "config"]).arg(dir.path().join("prometheus.yml")));
    assert!(out.contains("SUCCESS") && out.contains("1 rule files found"), "{out}");

    // promtool test rules: the calendar (IST market hours, weekdays) and a few thresholds.
    let tests = dir.path().join("alerts_test.yml");
    write(&tests, &rule_tests(&dir.path().join("alerts.yml")));
    let out = succeeds(Command::new("promtool").args(["test", "rules"]).arg(&tests));
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn the_grafana_dashboard_is_well_formed_and_its_queries_parse() {
    let d = dashboard();
    assert!(d["schemaVersion"].as_u64().is_some_and(|v| v >= 36), "schemaVersion {}", d["schemaVersion"]);
    assert!(d["uid"].is_string() && d["title"].is_string());
    let vars = d["templating"]["list"].as_array().expect("templating");
    assert!(
        vars.iter().any(|v| v["type"] == "datasource" && v["query"] == "prometheus" && v["name"] == "datasource"),
        "a templated Prometheus data source"
    );
    let mut panels: Vec<&serde_json::Value> = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        panels.push(p);
        panels.extend(p["panels"].as_array().into_iter().flatten());
    }
    let mut ids = BTreeSet::new();
    for p in &panels {
        assert!(ids.insert(p["id"].as_u64().expect("panel id")), "duplicate panel id {}", p["id"]);
        for k in ["h", "w", "x", "y"] {
            assert!(p["gridPos"][k].is_u64(), "panel {} gridPos.{k}", p["title"]);
        }
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "panel {}", p["title"]);
        let targets = p["targets"].as_array().filter(|t| !t.is_empty());
        for t in targets.unwrap_or_else(|| panic!("panel {} has no query", p["title"])) {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "panel {}", p["title"]);
            assert!(t["expr"].as_str().is_some_and(|e| !e.is_empty()), "panel {}", p["title"]);
        }
    }
    let titles: Vec<String> = panels.iter().filter_map(|p| p["title"].as_str().map(str::to_lowercase)).collect();
    for wanted in ["ticks", "latency", "ring", "orders", "risk", "p&l", "sql store", "redis", "broker sessions"] {
        assert!(titles.iter().any(|t| t.contains(wanted)), "no panel about {wanted}: {titles:?}");
    }
    let pnl = panels.iter().find(|p| p["title"].as_str().is_some_and(|t| t.contains("P&L"))).expect("P&L panel");
    assert!(
        pnl["description"].as_str().is_some_and(|s| s.contains("/metrics exposes no P&L")),
        "the P&L panel says /metrics has no P&L series"
    );

    // Every query parses as PromQL: each becomes a recording rule for promtool, with the
    // dashboard's variables given values.
    let mut exprs = Vec::new();
    dashboard_exprs(&d, &mut exprs);
    assert!(exprs.len() >= 30, "{} queries", exprs.len());
    if !have("promtool", &["--version"], "prometheus", "the dashboard's PromQL") {
        return;
    }
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, e) in exprs.iter().enumerate() {
        let e = e.replace("$__rate_interval", "1m").replace("$instance", ".*").replace("$quantile", "0.99");
        rules.push_str(&format!("      - record: dashboard:query_{i}\n        expr: {}\n", serde_json::json!(e)));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("dashboard_rules.yml");
    write(&file, &rules);
    let out = succeeds(Command::new("promtool").args(["check", "rules"]).arg(&file));
    assert!(out.contains(&format!("SUCCESS: {} rules found", exprs.len())), "{out}");
}

/// A run as production scrapes it: a Kite login and its market feed (against the fake Kite),
/// a live account, the SQL store (SQLite) and Redis, and the scrape token.
#[test]
fn every_metric_the_alerts_and_dashboard_use_is_on_metrics() {
    const TOKEN: &str = "deploy-scrape-token-5b1c";
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = FakeKite::start_in_background().expect("fake Kite");
    fake.add_user(FakeUser::new("ZX9010", "deploykey", "deploysecret-31"));
    let access = fake.issue_access_token("deploykey").expect("token");
    let (vault, key) = kite_vault(dir.path(), "deploykey", "deploysecret-31", &access);
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("store.db").display());
    let config =
        KiteRunConfig::new().kite_token("RELIANCE", 738_561u32).account("alice", "live").database(&db).text(&fake);
    let redis_line = "redis_url = \"\"";
    assert!(config.contains(redis_line), "the default config has {redis_line}");
    let config = config.replacen(redis_line, "redis_url = \"redis://127.0.0.1:6379/\"", 1).replacen(
        "redis_prefix = \"dalal\"",
        "redis_prefix = \"dalal-deploy-test\"",
        1,
    );
    let cfg = dir.path().join("run.toml");
    write(&cfg, &config);
    let mut cmd = command();
    cmd.current_dir(dir.path())
        .env_remove("DALAL_CONFIG")
        .env("RUST_LOG", "info")
        .env("DALAL_ADMIN_PASSWORD", "deploy-admin-pw-1")
        .env("DALAL_METRICS_TOKEN", TOKEN)
        .args(["run", "--feed", "kite:zerodha", "--admin-listen", "127.0.0.1:0", "--duration", "300s", "--config"])
        .arg(&cfg)
        .arg("--vault")
        .arg(&vault)
        .arg("--key-file")
        .arg(&key);
    let run = Run::start(cmd);

    let mut used = metric_names(&read("deploy/prometheus/alerts.yml"));
    let alert_names = used.clone();
    let mut exprs = Vec::new();
    dashboard_exprs(&dashboard(), &mut exprs);
    let dashboard_names = metric_names(&exprs.join("\n"));
    used.extend(dashboard_names.iter().cloned());
    // The dashboard's descriptions too: a metric named in a panel's text must exist as well.
    used.extend(metric_names(&read("deploy/grafana/dalal.json")));
    for wanted in [
        "dalal_ring_fill",
        "dalal_tick_to_order_seconds",
        "dalal_orders_rejected_total",
        "dalal_risk_rejected_total",
        "dalal_broker_session_healthy",
        "dalal_broker_errors_total",
        "dalal_feed_last_frame_age_seconds",
        "dalal_store_db_available",
        "dalal_store_unwritten",
        "dalal_redis_connected",
        "dalal_kill_switch",
        "dalal_kill_switch_accounts_engaged",
    ] {
        assert!(alert_names.contains(wanted), "the alerts use {wanted}");
    }
    assert!(dashboard_names.len() >= 25, "{dashboard_names:?}");

    let scrape = || request(&run.addr, "GET", "/metrics", Some(TOKEN), "");
    let missing = |body: &str| -> Vec<String> {
        let have = exposed(body);
        used.iter()
            .filter(|n| {
                !have.contains(*n)
                    && !["_bucket", "_sum", "_count"]
                        .iter()
                        .any(|s| n.strip_suffix(s).is_some_and(|base| have.contains(base)))
            })
            .cloned()
            .collect()
    };
    let deadline = std::time::Instant::now() + LIMIT;
    let last = loop {
        let r = scrape();
        assert_eq!(r.status, 200, "{}", r.body);
        if missing(&r.body).is_empty() || std::time::Instant::now() > deadline {
            break r.body;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let absent = missing(&last);
    assert!(absent.is_empty(), "not on /metrics: {absent:?}\n{last}\n{}", run.output());
    assert!(last.contains("dalal_broker_session_healthy{login=\"zerodha\"}"), "{last}");
    assert!(last.contains("dalal_feed_last_frame_age_seconds{feed=\"kite:zerodha\"}"), "{last}");

    // Without the token the broker login's series are not there: why the scrape presents it.
    let public = request(&run.addr, "GET", "/metrics", None, "");
    assert_eq!(public.status, 200);
    assert!(!public.body.contains("dalal_broker_session_healthy"), "{}", public.body);
    assert!(!public.body.contains("login=\"zerodha\""), "{}", public.body);

    // The exposition itself passes Prometheus's own linter.
    if have("promtool", &["--version"], "prometheus", "the /metrics exposition") {
        let mut p = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("promtool");
        p.stdin.take().expect("stdin").write_all(last.as_bytes()).expect("exposition to promtool");
        let o = p.wait_with_output().expect("promtool check metrics");
        assert!(o.status.success(), "promtool check metrics:\n{}", text(&o));
    }
    let (status, out) = run.stop();
    assert!(status.success(), "{out}");
    assert!(!out.contains(&access), "the access token leaked into the output");
}

#[test]
fn the_systemd_unit_passes_systemd_analyze() {
    let unit = read("deploy/systemd/dalal.service");
    for line in [
        "User=dalal",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/dalal",
        "WorkingDirectory=/var/lib/dalal",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ProtectHome=yes",
        "Restart=on-failure",
        "LimitMEMLOCK=infinity",
        "EnvironmentFile=-/etc/dalal/dalal.env",
        "ExecStart=/usr/local/bin/dalal run --config /etc/dalal/dalal.toml",
        "KillSignal=SIGINT",
    ] {
        assert!(unit.lines().any(|l| l.starts_with(line)), "the unit has no `{line}`");
    }
    assert!(unit.lines().any(|l| l.starts_with("RestartSec=")), "RestartSec");
    for note in ["CPUAffinity=", "isolcpus", "[engine] cores"] {
        assert!(unit.contains(note), "the unit's CPU notes mention {note}");
    }
    if !have("systemd-analyze", &["--version"], "systemd", "the systemd unit") {
        return;
    }
    // `systemd-analyze verify` refuses a unit whose ExecStart binary does not exist, so the
    // copy verified here runs the binary this test was built with instead of
    // /usr/local/bin/dalal; nothing else changes. It does not look up User= (the `dalal` user
    // need not exist), and reports unknown or misspelt keys as warnings with exit status 0,
    // so any line naming the unit fails the test too.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("dalal.service");
    write(
        &file,
        &unit.replace("ExecStart=/usr/local/bin/dalal ", &format!("ExecStart={} ", env!("CARGO_BIN_EXE_dalal"))),
    );
    let o = Command::new("systemd-analyze").arg("verify").arg(&file).output().expect("systemd-analyze");
    let t = text(&o);
    assert!(o.status.success(), "systemd-analyze verify:\n{t}");
    let complaints: Vec<&str> = t.lines().filter(|l| l.contains("dalal.service")).collect();
    assert!(complaints.is_empty(), "systemd-analyze verify:\n{t}");
    // The sandboxing keeps its exposure score in the "OK" band (4.0 or less, of 10).
    let o = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--threshold=40"])
        .arg(&file)
        .output()
        .expect("systemd-analyze security");
    assert!(o.status.success(), "systemd-analyze security:\n{}", text(&o));
}

/// The nginx site with a throwaway certificate, inside a minimal `nginx.conf` whose every path
/// is in `dir`; `listen` rewritten when `ports` (HTTP, HTTPS) are given, and the upstream
/// pointed at `upstream`.
fn nginx_conf(dir: &Path, ports: Option<(u16, u16)>, upstream: &str) -> PathBuf {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    succeeds(
        Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-days", "1", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert),
    );
    let mut site = read("deploy/nginx/dalal.conf")
        .replace("/etc/dalal/tls/fullchain.pem", &cert.display().to_string())
        .replace("/etc/dalal/tls/privkey.pem", &key.display().to_string())
        .replace("server 127.0.0.1:8080;", &format!("server {upstream};"));
    if let Some((http, https)) = ports {
        site = site
            .replace("listen 80;", &format!("listen 127.0.0.1:{http};"))
            .replace("listen [::]:80;", "")
            .replace("listen 443 ssl;", &format!("listen 127.0.0.1:{https} ssl;"))
            .replace("listen [::]:443 ssl;", "");
    }
    write(&dir.join("dalal.conf"), &site);
    let d = dir.display();
    let conf = dir.join("nginx.conf");
    write(
        &conf,
        &format!(
            "worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{ worker_connections 64; }}\n\
             http {{\naccess_log {d}/access.log;\nclient_body_temp_path {d}/body;\nproxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fastcgi;\nuwsgi_temp_path {d}/uwsgi;\nscgi_temp_path {d}/scgi;\n\
             include {d}/dalal.conf;\n}}\n"
        ),
    );
    conf
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port()
}

/// An nginx master in the foreground, stopped when dropped.
struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-QUIT", &self.0.id().to_string()]).status();
        let _ = self.0.wait();
    }
}

fn curl(args: &[&str]) -> String {
    let o = Command::new("curl").args(["-sk", "--max-time", "3"]).args(args).output().expect("curl");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn the_nginx_site_passes_nginx_t_and_proxies_the_console() {
    let site = read("deploy/nginx/dalal.conf");
    for needed in
        ["/etc/dalal/tls/", "return 301 https://", "127.0.0.1:8080", "location = /api/ws", "location = /metrics"]
    {
        assert!(site.contains(needed), "the site has {needed}");
    }
    assert!(site.contains("Sec-WebSocket-Protocol $http_sec_websocket_protocol"), "the subprotocol passes through");
    if !have("nginx", &["-v"], "nginx", "the nginx site") || !have("openssl", &["version"], "openssl", "the nginx site")
    {
        return;
    }
    // nginx -t -p TMP -c TMP/nginx.conf, the site as shipped but for the certificate's paths.
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = nginx_conf(dir.path(), None, "127.0.0.1:8080");
    let t = succeeds(
        Command::new("nginx")
            .arg("-t")
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(&conf),
    );
    assert!(t.contains("test is successful"), "{t}");

    // Then for real, on free loopback ports, in front of a running console.
    if !have("curl", &["--version"], "curl", "the nginx site in front of a console") {
        return;
    }
    let run_dir = tempfile::tempdir().expect("tempdir");
    let config = read("config/default.toml")
        .replace("database_url = \"sqlite://data/dalal.db?mode=rwc\"", "database_url = \"\"")
        .replacen("rate = 20000", "rate = 200", 1);
    let cfg = run_dir.path().join("run.toml");
    write(&cfg, &config);
    let mut cmd = command();
    cmd.current_dir(run_dir.path())
        .env_remove("DALAL_CONFIG")
        .env("RUST_LOG", "warn")
        .env("DALAL_ADMIN_PASSWORD", "nginx-admin-pw-1")
        .args(["run", "--admin-listen", "127.0.0.1:0", "--duration", "120s", "--config"])
        .arg(&cfg);
    let run = Run::start(cmd);
    let (http, https) = (free_port(), free_port());
    let live = tempfile::tempdir().expect("tempdir");
    let conf = nginx_conf(live.path(), Some((http, https)), &run.addr);
    let nginx = Nginx(
        Command::new("nginx")
            .arg("-p")
            .arg(live.path())
            .arg("-e")
            .arg(live.path().join("error.log"))
            .arg("-c")
            .arg(&conf)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts"),
    );
    let base = format!("https://127.0.0.1:{https}");
    wait_for("nginx to answer", LIMIT, &mut || {
        curl(&["-o", "/dev/null", "-w", "%{http_code}", &format!("{base}/health")]) == "200"
    });

    let redirect = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{redirect_url}",
        &format!("http://127.0.0.1:{http}/api/accounts"),
    ]);
    assert!(redirect.starts_with("301 https://127.0.0.1") && redirect.ends_with("/api/accounts"), "{redirect}");
    let code = |path: &str| curl(&["-o", "/dev/null", "-w", "%{http_code}", &format!("{base}{path}")]);
    assert_eq!(code("/metrics"), "404", "/metrics is not published");
    assert_eq!(code("//metrics"), "404", "/metrics is not published");
    assert_eq!(code("/metrics?x=1"), "404", "/metrics is not published");
    assert_eq!(request(&run.addr, "GET", "/metrics", None, "").status, 200, "the console itself serves it");
    let login = curl(&[
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"username":"admin","password":"nginx-admin-pw-1"}"#,
        &format!("{base}/api/auth/login"),
    ]);
    let v: serde_json::Value = serde_json::from_str(&login).unwrap_or_default();
    let token = v["access_token"].as_str().unwrap_or_else(|| panic!("login through nginx: {login}"));
    // A browser's WebSocket: the token as `bearer.<token>` in Sec-WebSocket-Protocol.
    let ws = |protocols: &str| {
        curl(&[
            "-i",
            "--http1.1",
            "-H",
            "Connection: Upgrade",
            "-H",
            "Upgrade: websocket",
            "-H",
            "Sec-WebSocket-Version: 13",
            "-H",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "-H",
            &format!("Sec-WebSocket-Protocol: {protocols}"),
            &format!("{base}/api/ws"),
        ])
        .to_lowercase()
    };
    let upgraded = ws(&format!("dalal, bearer.{token}"));
    assert!(upgraded.starts_with("http/1.1 101"), "{upgraded}");
    assert!(upgraded.contains("sec-websocket-protocol: dalal\r\n"), "{upgraded}");
    let refused = ws("dalal, bearer.not-a-token");
    assert!(refused.starts_with("http/1.1 401"), "{refused}");
    drop(nginx);
    let (status, out) = run.stop();
    assert!(status.success(), "{out}");
}

/// The compose file as JSON, through PyYAML, when Python has it.
fn compose_as_json(file: &Path) -> Option<serde_json::Value> {
    let py = "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)";
    let o = Command::new("python3").args(["-c", py]).arg(file).output().ok()?;
    if !o.status.success() {
        return None;
    }
    serde_json::from_slice(&o.stdout).ok()
}

#[test]
fn the_dockerfile_and_compose_file_hold_together() {
    let docker = read("deploy/docker/Dockerfile");
    let compose_file = repo().join("deploy/docker/docker-compose.yml");
    let compose = read("deploy/docker/docker-compose.yml");

    // The Dockerfile, by text (Docker's engine does not run here, so nothing builds it):
    // a Rust build stage, a slim Debian runtime as a user of its own, the health check on
    // /health, the console's port, and every workspace member in the build context.
    let from: Vec<&str> = docker.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(from.len(), 2, "{from:?}");
    assert!(from[0].contains("rust:") && from[0].contains(" AS build"), "{}", from[0]);
    assert!(from[1].contains("debian:") && from[1].contains("-slim"), "{}", from[1]);
    let user = docker.lines().rev().find_map(|l| l.strip_prefix("USER ")).expect("USER");
    assert!(user.trim() != "root" && user.trim() != "0", "runs as {user}");
    assert!(docker.lines().any(|l| l.starts_with("HEALTHCHECK ")), "HEALTHCHECK");
    assert!(docker.contains("http://127.0.0.1:8080/health"), "the health check asks /health");
    assert!(docker.lines().any(|l| l == "EXPOSE 8080"), "EXPOSE 8080");
    assert!(docker.lines().any(|l| l == "STOPSIGNAL SIGINT"), "a clean stop is SIGINT");
    let copied: BTreeSet<String> = docker
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from="))
        .flat_map(|l| {
            let words: Vec<&str> = l.split_whitespace().skip(1).collect();
            words[..words.len().saturating_sub(1)]
                .iter()
                .map(|w| w.trim_end_matches('/').to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    for path in &copied {
        assert!(repo().join(path).exists(), "the Dockerfile copies {path}, which does not exist");
    }
    let manifest: toml::Value = toml::from_str(&read("Cargo.toml")).expect("Cargo.toml");
    let members = manifest["workspace"]["members"].as_array().expect("workspace members");
    for m in members.iter().filter_map(|m| m.as_str()).chain(["src", "Cargo.lock", "Cargo.toml"]) {
        assert!(copied.contains(m), "the Dockerfile does not copy {m} into the build");
    }

    // The compose file, by text first.
    for needed in [
        "DALAL_PERSISTENCE__DATABASE_URL:",
        "DALAL_PERSISTENCE__REDIS_URL:",
        "DALAL_ADMIN__LISTEN: 0.0.0.0:8080",
        "DALAL_ADMIN_PASSWORD:",
        "DALAL_METRICS_TOKEN:",
        "../prometheus/alerts.yml:",
        "../grafana/dalal.json:",
        "dockerfile: deploy/docker/Dockerfile",
    ] {
        assert!(compose.contains(needed), "the compose file has {needed}");
    }
    for service in ["dalal", "postgres", "redis", "prometheus", "grafana"] {
        assert!(compose.contains(&format!("\n  {service}:\n")), "the compose file has a service {service}");
    }

    if Command::new("docker").args(["compose", "version"]).output().is_ok_and(|o| o.status.success()) {
        // docker compose config: the file as Compose reads it, with the variables it requires.
        let o = Command::new("docker")
            .args(["compose", "-f"])
            .arg(&compose_file)
            .args(["config", "--quiet"])
            .env("DALAL_ADMIN_PASSWORD", "x")
            .env("DALAL_METRICS_TOKEN", "x")
            .env("POSTGRES_PASSWORD", "x")
            .env("GRAFANA_ADMIN_PASSWORD", "x")
            .output()
            .expect("docker compose config");
        assert!(o.status.success(), "docker compose config:\n{}", text(&o));
    } else {
        println!("skipped: docker compose config (Docker Compose is not installed; the file is parsed instead)");
    }
    let Some(c) = compose_as_json(&compose_file) else {
        println!("skipped: parsing the compose file as YAML (python3 with PyYAML not available; checked by text)");
        return;
    };
    let services = c["services"].as_object().expect("services");
    for s in ["dalal", "postgres", "redis", "prometheus", "grafana"] {
        assert!(services.contains_key(s), "service {s}");
    }
    let env = &c["services"]["dalal"]["environment"];
    for k in [
        "DALAL_PERSISTENCE__DATABASE_URL",
        "DALAL_PERSISTENCE__REDIS_URL",
        "DALAL_ADMIN__LISTEN",
        "DALAL_ADMIN_PASSWORD",
        "DALAL_METRICS_TOKEN",
    ] {
        assert!(env[k].is_string(), "dalal's environment has {k}: {env}");
    }
    assert!(env["DALAL_PERSISTENCE__DATABASE_URL"].as_str().is_some_and(|u| u.contains("@postgres:5432/")));
    assert_eq!(env["DALAL_PERSISTENCE__REDIS_URL"], "redis://redis:6379/");
    // Every file mounted from the repository exists.
    for (name, s) in services {
        for v in s["volumes"].as_array().into_iter().flatten().filter_map(|v| v.as_str()) {
            let source = v.split(':').next().unwrap_or_default();
            if source.starts_with('.') {
                let p = repo().join("deploy/docker").join(source);
                assert!(p.exists(), "{name} mounts {source}, which does not exist");
            }
        }
    }
    // The Prometheus configuration compose hands its container passes promtool, like the
    // file under deploy/prometheus (the scrape's token file in a temp dir, as above).
    let inline = c["configs"]["prometheus_yml"]["content"].as_str().expect("configs.prometheus_yml.content");
    assert!(inline.contains("dalal:8080") && inline.contains("/etc/prometheus/dalal-metrics.token"), "{inline}");
    assert_eq!(c["services"]["prometheus"]["secrets"][0]["target"], "/etc/prometheus/dalal-metrics.token");
    if have("promtool", &["--version"], "prometheus", "the compose file's Prometheus configuration") {
        let dir = tempfile::tempdir().expect("tempdir");
        let token = dir.path().join("token");
        write(&token, "x\n");
        std::fs::copy(repo().join("deploy/prometheus/alerts.yml"), dir.path().join("alerts.yml")).expect("copy");
        write(
            &dir.path().join("prometheus.yml"),
            &inline.replace("/etc/prometheus/dalal-metrics.token", &token.display().to_string()),
        );
        succeeds(Command::new("promtool").args(["check", "config"]).arg(dir.path().join("prometheus.yml")));
    }
}
