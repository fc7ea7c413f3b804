use switchboard::domain::ApiKeyId;
use switchboard::store::StoreError;

use crate::fixtures::{self, page, ALL};
use crate::{on_both_backends, Backend};

on_both_backends!(api_keys_are_stored_listed_and_deleted, a_missing_api_key_is_not_found);

async fn api_keys_are_stored_listed_and_deleted(store: &impl Backend) {
    let mut keys = Vec::new();
    for name in ["ci", "ops", "support"] {
        keys.push(store.insert_api_key(fixtures::api_key(name), vec![]).await.unwrap());
    }
    assert_eq!(store.get_api_key(keys[1].id.clone()).await.unwrap(), keys[1]);
    assert_eq!(store.all_api_keys().await.unwrap(), keys, "all of them, in creation order");
    let second_page = store.list_api_keys(page(1, 1)).await.unwrap();
    assert_eq!((second_page.total, second_page.items), (3, vec![keys[1].clone()]));

    store.delete_api_key(keys[0].id.clone(), vec![]).await.unwrap();

    let left = store.list_api_keys(ALL).await.unwrap();
    assert_eq!((left.total, left.items), (2, keys[1..].to_vec()));
}

async fn a_missing_api_key_is_not_found(store: &impl Backend) {
    let id = ApiKeyId::generate();
    assert!(matches!(store.get_api_key(id.clone()).await, Err(StoreError::NotFound("API key"))));
    assert!(matches!(store.delete_api_key(id, vec![]).await, Err(StoreError::NotFound("API key"))));
}
