//! Saved report pages (`reports`): what `dalal backtest --save` keeps so the console can list
//! and open them. A page covers one account or a whole run; `accounts` names every account it
//! covers, and a reader must see all of them (the console's ownership rule).

use sqlx::Row;

use super::query::{fetch, numbered};
use super::{Store, StoreError, StorePool};

/// A page to keep.
#[derive(Clone, Debug, PartialEq)]
pub struct NewReport {
    pub created_ns: i64,
    /// Names the run (the backtest's `--label`, or its output directory).
    pub run_label: String,
    /// The account of an account's page; `None` for the whole run.
    pub account: Option<String>,
    /// Every account the page covers.
    pub accounts: Vec<String>,
    pub title: String,
    /// The page's metrics.json.
    pub metrics: String,
    pub html: String,
}

/// A kept page, without its HTML.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ReportRow {
    pub id: i64,
    pub created_ns: i64,
    pub run_label: String,
    pub account: Option<String>,
    pub accounts: Vec<String>,
    pub title: String,
    /// metrics.json as stored.
    pub metrics: serde_json::Value,
}

fn accounts_of(s: &str) -> Vec<String> {
    s.split(',').filter(|a| !a.is_empty()).map(String::from).collect()
}

macro_rules! report_row {
    ($r:ident) => {{
        let accounts: String = $r.try_get("accounts")?;
        let metrics: String = $r.try_get("metrics")?;
        ReportRow {
            id: $r.try_get("id")?,
            created_ns: $r.try_get("created_ns")?,
            run_label: $r.try_get("run_label")?,
            account: $r.try_get("account")?,
            accounts: accounts_of(&accounts),
            title: $r.try_get("title")?,
            metrics: serde_json::from_str(&metrics).unwrap_or(serde_json::Value::Null),
        }
    }};
}

impl Store {
    /// Keeps a page; returns its id. Account names may not contain commas (config names
    /// never do).
    pub async fn save_report(&self, r: &NewReport) -> Result<i64, StoreError> {
        self.prepare().await?;
        let accounts = r.accounts.join(",");
        let ids: Vec<i64> = fetch!(
            self,
            "INSERT INTO reports (created_ns, run_label, account, accounts, title, metrics, html) \
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            [
                r.created_ns,
                r.run_label.as_str(),
                r.account.as_deref(),
                accounts.as_str(),
                r.title.as_str(),
                r.metrics.as_str(),
                r.html.as_str()
            ],
            |row| row.try_get("id")?
        );
        ids.first().copied().ok_or_else(|| StoreError::Db(sqlx::Error::RowNotFound))
    }

    /// Every kept page, newest first, without the HTML.
    pub async fn reports(&self) -> Result<Vec<ReportRow>, StoreError> {
        Ok(fetch!(
            self,
            "SELECT id, created_ns, run_label, account, accounts, title, metrics FROM reports \
             ORDER BY created_ns DESC, id DESC",
            [],
            |r| report_row!(r)
        ))
    }

    /// One page with its HTML.
    pub async fn report(&self, id: i64) -> Result<Option<(ReportRow, String)>, StoreError> {
        let rows = fetch!(
            self,
            "SELECT id, created_ns, run_label, account, accounts, title, metrics, html FROM reports WHERE id = ?",
            [id],
            |r| (report_row!(r), r.try_get::<String, _>("html")?)
        );
        Ok(rows.into_iter().next())
    }
}
