use switchboard::domain::callout::Callout;
use switchboard::domain::ids::CalloutId;
use switchboard::domain::SystemId;
use switchboard::store::StoreError;

use crate::fixtures::{self, page, ALL};
use crate::{on_both_backends, Backend};

on_both_backends!(
    a_callout_is_stored_changed_and_deleted,
    a_missing_callout_is_not_found,
    a_callout_scoped_to_a_missing_system_is_refused,
    a_callouts_log_is_appended_counted_listed_newest_first_and_trimmed,
    log_entries_before_a_cutoff_are_removed_across_callouts,
);

async fn a_callout_is_stored_changed_and_deleted(store: &impl Backend) {
    let system = store.insert_system(fixtures::system("s", ""), vec![]).await.unwrap().id;
    let mut ids = Vec::new();
    for (name, scope) in [("a", None), ("b", Some(&system)), ("c", None)] {
        ids.push(store.insert_callout(fixtures::callout(name, scope), vec![]).await.unwrap().id);
    }
    let all: Vec<CalloutId> = store.all_callouts().await.unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(all, ids, "in creation order");
    let second = store.list_callouts(page(1, 1)).await.unwrap();
    assert_eq!((second.total, second.items.into_iter().map(|c| c.id).collect::<Vec<_>>()), (3, vec![ids[1].clone()]));

    let change = Box::new(|mut c: Callout| {
        c.spec.enabled = false;
        c.spec.system_id = None;
        Ok(c)
    });
    let announce = Box::new(|c: &Callout| vec![fixtures::event("callout.updated", c.spec.system_id.as_ref())]);
    let (updated, events) = store.update_callout(ids[1].clone(), change, announce).await.unwrap();
    assert_eq!(events.len(), 1);
    let stored = store.get_callout(ids[1].clone()).await.unwrap();
    assert_eq!((stored.spec.enabled, stored.spec.system_id), (false, None));
    assert_eq!(updated.id, stored.id);

    // Unscoped now: deleting the system leaves it.
    store.delete_system(system, vec![]).await.unwrap();
    assert!(store.get_callout(ids[1].clone()).await.is_ok());

    let announce =
        Box::new(|c: &Callout| vec![fixtures::event("callout.deleted", None), fixtures::event(&c.spec.name, None)]);
    let events = store.delete_callout(ids[1].clone(), announce).await.unwrap();
    assert_eq!(events.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(), ["callout.deleted", "b"]);
    assert!(matches!(store.get_callout(ids[1].clone()).await, Err(StoreError::NotFound("callout"))));
    assert_eq!(store.list_callouts(ALL).await.unwrap().total, 2);
}

async fn a_missing_callout_is_not_found(store: &impl Backend) {
    let id = CalloutId::generate();
    let results = [
        store.get_callout(id.clone()).await.map(|_| ()),
        store.update_callout(id.clone(), Box::new(Ok), Box::new(|_| vec![])).await.map(|_| ()),
        store.delete_callout(id.clone(), Box::new(|_| vec![])).await.map(|_| ()),
        store.list_callout_log(id.clone(), ALL).await.map(|_| ()),
    ];
    for (i, result) in results.into_iter().enumerate() {
        assert!(matches!(result, Err(StoreError::NotFound("callout"))), "call {i}: {result:?}");
    }
    assert_eq!(store.count_callout_log(id).await.unwrap(), 0, "counting a missing callout's log is no error");
}

async fn a_callout_scoped_to_a_missing_system_is_refused(store: &impl Backend) {
    let missing = SystemId::generate();
    let callout = fixtures::callout("c", Some(&missing));
    let refused = store.insert_callout(callout.clone(), vec![]).await;
    assert!(matches!(refused, Err(StoreError::Invalid(ref v)) if v.field == "system_id"), "{refused:?}");
    assert!(matches!(store.get_callout(callout.id).await, Err(StoreError::NotFound(_))));

    let stored = store.insert_callout(fixtures::callout("c", None), vec![]).await.unwrap();
    let change = Box::new(move |mut c: Callout| {
        c.spec.system_id = Some(missing);
        Ok(c)
    });
    let refused = store.update_callout(stored.id.clone(), change, Box::new(|_| vec![])).await;
    assert!(matches!(refused, Err(StoreError::Invalid(ref v)) if v.field == "system_id"), "{refused:?}");
    assert_eq!(store.get_callout(stored.id).await.unwrap().spec.system_id, None, "nothing changed");
}

async fn a_callouts_log_is_appended_counted_listed_newest_first_and_trimmed(store: &impl Backend) {
    let system = SystemId::generate();
    let callout = store.insert_callout(fixtures::callout("c", None), vec![]).await.unwrap().id;
    let other = store.insert_callout(fixtures::callout("other", None), vec![]).await.unwrap().id;
    let entries: Vec<_> = (0..5).map(|i| fixtures::log_entry(&system, 1000 + i)).collect();
    let mut batch: Vec<_> = entries.iter().map(|e| (callout.clone(), e.clone())).collect();
    batch.push((other.clone(), fixtures::log_entry(&system, 1)));
    // A callout deleted before its entries arrive gets none.
    batch.push((CalloutId::generate(), fixtures::log_entry(&system, 1)));
    store.append_callout_log(batch).await.unwrap();

    assert_eq!(store.count_callout_log(callout.clone()).await.unwrap(), 5);
    let newest_first: Vec<_> = entries.iter().rev().cloned().collect();
    for (case, offset, limit, expected) in
        [("all", 0, 10, &newest_first[..]), ("a page", 1, 2, &newest_first[1..3]), ("past the end", 7, 2, &[][..])]
    {
        let found = store.list_callout_log(callout.clone(), page(offset, limit)).await.unwrap();
        assert_eq!(found.total, 5, "[{case}]");
        let ids: Vec<&str> = found.items.iter().map(|e| e.id.as_str()).collect();
        let expected: Vec<&str> = expected.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, expected, "[{case}]");
    }

    store.remove_oldest_callout_log(callout.clone(), 2).await.unwrap();

    let left = store.list_callout_log(callout.clone(), ALL).await.unwrap();
    let ids: Vec<&str> = left.items.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, newest_first[..3].iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), "the two oldest went");
    assert_eq!(store.count_callout_log(other.clone()).await.unwrap(), 1, "another callout's log is untouched");

    store.delete_callout(callout.clone(), Box::new(|_| vec![])).await.unwrap();
    assert_eq!(store.count_callout_log(callout).await.unwrap(), 0, "the log goes with its callout");
    assert_eq!(store.count_callout_log(other).await.unwrap(), 1);
}

async fn log_entries_before_a_cutoff_are_removed_across_callouts(store: &impl Backend) {
    let system = SystemId::generate();
    let a = store.insert_callout(fixtures::callout("a", None), vec![]).await.unwrap().id;
    let b = store.insert_callout(fixtures::callout("b", None), vec![]).await.unwrap().id;
    let batch = vec![
        (a.clone(), fixtures::log_entry(&system, 100)),
        (b.clone(), fixtures::log_entry(&system, 150)),
        (a.clone(), fixtures::log_entry(&system, 200)),
        (b.clone(), fixtures::log_entry(&system, 250)),
    ];
    store.append_callout_log(batch).await.unwrap();

    assert_eq!(store.remove_callout_log_before(200).await.unwrap(), 2, "strictly before the cutoff");

    let left_a = store.list_callout_log(a, ALL).await.unwrap().items;
    let left_b = store.list_callout_log(b, ALL).await.unwrap().items;
    assert_eq!(left_a.iter().map(|e| e.at).collect::<Vec<_>>(), [200]);
    assert_eq!(left_b.iter().map(|e| e.at).collect::<Vec<_>>(), [250]);
    assert_eq!(store.remove_callout_log_before(200).await.unwrap(), 0);
}
