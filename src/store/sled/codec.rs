//! Encoding of keys and values.

use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::{Page, PageRequest, StoreError, StoreResult};

pub(super) fn encode<T: Serialize>(value: &T) -> StoreResult<Vec<u8>> {
    Ok(serde_json::to_vec(value)?)
}

pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> StoreResult<T> {
    Ok(serde_json::from_slice(bytes)?)
}

pub(super) fn get<T: DeserializeOwned>(tree: &sled::Tree, key: impl AsRef<[u8]>) -> StoreResult<Option<T>> {
    tree.get(key)?.map(|v| decode(&v)).transpose()
}

/// `parent \0 child`: ids never hold a NUL, so a prefix scan on `parent \0` finds exactly its children.
pub(super) fn index_key(parent: &str, child: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(parent.len() + 1 + child.len());
    key.extend_from_slice(parent.as_bytes());
    key.push(0);
    key.extend_from_slice(child.as_bytes());
    key
}

pub(super) fn index_prefix(parent: &str) -> Vec<u8> {
    let mut key = parent.as_bytes().to_vec();
    key.push(0);
    key
}

/// The children listed under `parent` in an index tree.
pub(super) fn index_children(tree: &sled::Tree, parent: &str) -> StoreResult<Vec<String>> {
    let prefix = index_prefix(parent);
    tree.scan_prefix(&prefix)
        .keys()
        .map(|k| {
            let k = k?;
            Ok(String::from_utf8_lossy(&k[prefix.len()..]).into_owned())
        })
        .collect()
}

/// Walks a tree in key (creation) order, keeping the records `keep` accepts.
pub(super) fn list<T: DeserializeOwned>(
    tree: &sled::Tree,
    page: PageRequest,
    mut keep: impl FnMut(&T) -> bool,
) -> StoreResult<Page<T>> {
    let mut total = 0;
    let mut items = Vec::new();
    for entry in tree.iter().values() {
        let record: T = decode(&entry?)?;
        if !keep(&record) {
            continue;
        }
        if total >= page.offset && items.len() < page.limit {
            items.push(record);
        }
        total += 1;
    }
    Ok(Page { total, items })
}

pub(super) type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

pub(super) fn tx_put<T: Serialize>(tree: &TransactionalTree, key: impl AsRef<[u8]>, value: &T) -> TxResult<()> {
    let bytes = encode(value).map_err(ConflictableTransactionError::Abort)?;
    tree.insert(key.as_ref(), bytes)?;
    Ok(())
}

pub(super) fn tx_get<T: DeserializeOwned>(tree: &TransactionalTree, key: impl AsRef<[u8]>) -> TxResult<Option<T>> {
    match tree.get(key.as_ref())? {
        Some(v) => decode(&v).map(Some).map_err(ConflictableTransactionError::Abort),
        None => Ok(None),
    }
}
