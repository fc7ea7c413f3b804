//! Statements (prepared once per connection and cached), records to and from `doc`, and listings.

use deadpool_postgres::GenericClient;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_postgres::types::{Json, ToSql};
use tokio_postgres::Row;

use crate::store::{Page, PageRequest, StoreResult};

pub(super) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

pub(super) async fn query<C: GenericClient>(client: &C, sql: &str, params: Params<'_>) -> StoreResult<Vec<Row>> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.query(&statement, params).await?)
}

pub(super) async fn query_opt<C: GenericClient>(client: &C, sql: &str, params: Params<'_>) -> StoreResult<Option<Row>> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.query_opt(&statement, params).await?)
}

pub(super) async fn execute<C: GenericClient>(client: &C, sql: &str, params: Params<'_>) -> StoreResult<u64> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.execute(&statement, params).await?)
}

/// A record as the `doc` column holds it. jsonb cannot hold the NUL character (a webhook payload may):
/// it is stored as U+FFFD, where one refused write would otherwise fail every write committed with it.
pub(super) fn doc<T: Serialize>(record: &T) -> StoreResult<serde_json::Value> {
    let mut value = serde_json::to_value(record)?;
    without_nul(&mut value);
    Ok(value)
}

fn without_nul(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) if s.contains('\0') => *s = s.replace('\0', "\u{FFFD}"),
        Value::Array(items) => items.iter_mut().for_each(without_nul),
        Value::Object(map) if map.keys().any(|k| k.contains('\0')) => {
            let entries = std::mem::take(map);
            for (key, mut item) in entries {
                without_nul(&mut item);
                map.insert(key.replace('\0', "\u{FFFD}"), item);
            }
        }
        Value::Object(map) => map.values_mut().for_each(without_nul),
        _ => {}
    }
}

/// The record in a row's column `column`, decoded straight from the column's bytes.
pub(super) fn decode<T: DeserializeOwned>(row: &Row, column: usize) -> StoreResult<T> {
    let Json(record) = row.try_get::<_, Json<T>>(column)?;
    Ok(record)
}

/// The records in the first column of `rows`.
pub(super) fn decode_all<T: DeserializeOwned>(rows: &[Row]) -> StoreResult<Vec<T>> {
    rows.iter().map(|row| decode(row, 0)).collect()
}

/// The first column of `rows`, as text.
pub(super) fn texts(rows: &[Row]) -> StoreResult<Vec<String>> {
    Ok(rows.iter().map(|row| row.try_get(0)).collect::<Result<_, _>>()?)
}

pub(super) fn to_i64(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

/// A listing: what `SELECT {columns} FROM {from_where} ORDER BY {order}` finds, one page of it made
/// into records by `read`, and how many matched. `params` are `$1…`; the page's bounds come after.
pub(super) struct Listing<'a> {
    pub columns: &'a str,
    pub from_where: &'a str,
    pub order: &'a str,
}

impl Listing<'_> {
    pub(super) async fn page<C: GenericClient, T>(
        &self,
        client: &C,
        params: Params<'_>,
        page: PageRequest,
        read: impl Fn(&Row) -> StoreResult<T>,
    ) -> StoreResult<Page<T>> {
        let (limit, offset) = (to_i64(page.limit), to_i64(page.offset));
        let n = params.len();
        let sql = format!(
            "SELECT {}, count(*) OVER () FROM {} ORDER BY {} LIMIT ${} OFFSET ${}",
            self.columns,
            self.from_where,
            self.order,
            n + 1,
            n + 2
        );
        let mut all: Vec<&(dyn ToSql + Sync)> = params.to_vec();
        all.extend([&limit as &(dyn ToSql + Sync), &offset]);
        let rows = query(client, &sql, &all).await?;
        let total = match rows.first() {
            Some(row) => row.try_get::<_, i64>(row.len() - 1)?,
            // An empty page past the end, or of no size: the count still says how many matched.
            None if offset > 0 || limit == 0 => self.count(client, params).await?,
            None => 0,
        };
        let items = rows.iter().map(read).collect::<StoreResult<_>>()?;
        Ok(Page { total: usize::try_from(total).unwrap_or(usize::MAX), items })
    }

    async fn count<C: GenericClient>(&self, client: &C, params: Params<'_>) -> StoreResult<i64> {
        let sql = format!("SELECT count(*) FROM {}", self.from_where);
        let rows = query(client, &sql, params).await?;
        Ok(rows.first().map(|row| row.try_get(0)).transpose()?.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn nul_characters_become_replacement_characters_in_values_and_keys() {
        let record = serde_json::json!({ "a\u{0}": ["x\u{0}y", { "k": "\u{0}" }], "n": 1, "plain": "kept" });
        let stored = super::doc(&record).unwrap();
        assert_eq!(
            stored,
            serde_json::json!({ "a\u{FFFD}": ["x\u{FFFD}y", { "k": "\u{FFFD}" }], "n": 1, "plain": "kept" })
        );
    }
}
