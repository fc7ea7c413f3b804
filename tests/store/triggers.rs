use switchboard::domain::trigger::Trigger;
use switchboard::domain::TriggerId;
use switchboard::store::StoreError;

use crate::fixtures::{self, page, ALL};
use crate::{on_both_backends, Backend};

on_both_backends!(
    a_trigger_is_stored_changed_and_deleted,
    a_missing_trigger_is_not_found,
    triggers_are_listed_in_creation_order_paged_and_filtered_by_q,
    deleting_a_trigger_takes_its_instances_in_every_system,
);

async fn a_trigger_is_stored_changed_and_deleted(store: &impl Backend) {
    let stored = store.insert_trigger(fixtures::trigger("Door opened", ""), vec![]).await.unwrap();
    assert_eq!(store.get_trigger(stored.id.clone()).await.unwrap(), stored);

    let change = Box::new(|mut t: Trigger| {
        t.spec.debounce_period = 250;
        Ok(t)
    });
    let announce =
        Box::new(|t: &Trigger| vec![fixtures::event("trigger.updated", None), fixtures::event(&t.spec.name, None)]);
    let (updated, events) = store.update_trigger(stored.id.clone(), change, announce).await.unwrap();
    assert_eq!(events.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(), ["trigger.updated", "Door opened"]);
    assert_eq!(store.get_trigger(stored.id.clone()).await.unwrap(), updated);
    assert_eq!(updated.spec.debounce_period, 250);

    assert_eq!(store.delete_trigger(stored.id.clone(), vec![]).await.unwrap(), vec![]);
    assert!(matches!(store.get_trigger(stored.id).await, Err(StoreError::NotFound("trigger"))));
}

async fn a_missing_trigger_is_not_found(store: &impl Backend) {
    let id = TriggerId::generate();
    let results = [
        store.get_trigger(id.clone()).await.map(|_| ()),
        store.update_trigger(id.clone(), Box::new(Ok), Box::new(|_| vec![])).await.map(|_| ()),
        store.delete_trigger(id.clone(), vec![]).await.map(|_| ()),
        store.list_instances_of_trigger(id.clone()).await.map(|_| ()),
    ];
    for (i, result) in results.into_iter().enumerate() {
        assert!(matches!(result, Err(StoreError::NotFound("trigger"))), "call {i}: {result:?}");
    }
}

async fn triggers_are_listed_in_creation_order_paged_and_filtered_by_q(store: &impl Backend) {
    let mut ids = Vec::new();
    for (name, description) in [("Door opened", ""), ("Fire alarm", "when the DOOR sensor trips"), ("Quiet", "")] {
        ids.push(store.insert_trigger(fixtures::trigger(name, description), vec![]).await.unwrap().id);
    }
    for (case, q, offset, limit, total, expected) in [
        ("all", None, 0, 10, 3, vec![0, 1, 2]),
        ("a page", None, 2, 1, 3, vec![2]),
        ("q in names and descriptions, any case", Some("door"), 0, 10, 2, vec![0, 1]),
        ("q past the end", Some("door"), 5, 10, 2, vec![]),
        ("q matching nothing", Some("window"), 0, 10, 0, vec![]),
    ] {
        let found = store.list_triggers(q.map(str::to_owned), page(offset, limit)).await.unwrap();
        assert_eq!(found.total, total, "[{case}] total");
        let expected: Vec<TriggerId> = expected.into_iter().map(|i| ids[i].clone()).collect();
        assert_eq!(found.items.into_iter().map(|t| t.id).collect::<Vec<_>>(), expected, "[{case}] items");
    }
    assert_eq!(store.list_triggers(None, ALL).await.unwrap().total, 3);
}

async fn deleting_a_trigger_takes_its_instances_in_every_system(store: &impl Backend) {
    let doomed = store.insert_trigger(fixtures::trigger("doomed", ""), vec![]).await.unwrap().id;
    let kept = store.insert_trigger(fixtures::trigger("kept", ""), vec![]).await.unwrap().id;
    let mut taken = Vec::new();
    let mut left = Vec::new();
    for name in ["a", "b"] {
        let system = store.insert_system(fixtures::system(name, ""), vec![]).await.unwrap().id;
        let build = fixtures::build_instance(&system);
        taken.push(store.insert_instance(system.clone(), doomed.clone(), build, vec![]).await.unwrap().0.id);
        let build = fixtures::build_instance(&system);
        left.push(store.insert_instance(system.clone(), kept.clone(), build, vec![]).await.unwrap().0.id);
    }

    let deleted = store.delete_trigger(doomed.clone(), vec![]).await.unwrap();

    taken.sort();
    assert_eq!(deleted, taken, "its instances, in id order");
    for id in taken {
        assert!(matches!(store.get_instance(id.clone()).await, Err(StoreError::NotFound("trigger instance"))));
        assert_eq!(store.find_state(id).await.unwrap(), None);
    }
    for id in left {
        assert_eq!(store.get_instance(id).await.unwrap().0.trigger_id, kept, "another trigger's instances stay");
    }
    assert_eq!(store.instance_ids_of_trigger(doomed).await.unwrap(), vec![]);
}
