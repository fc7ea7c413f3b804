use serde_json::json;
use switchboard::domain::instance::{InstanceState, TriggerInstance};
use switchboard::domain::{InstanceId, SystemId, TriggerId};
use switchboard::store::{InstanceFilter, StoreError};

use crate::fixtures::{self, page, ALL};
use crate::{on_both_backends, Backend};

on_both_backends!(
    an_instance_is_stored_changed_and_deleted_with_its_state,
    an_instance_needs_its_system_and_its_trigger,
    an_instance_is_found_only_in_its_own_system,
    a_systems_instances_are_listed_filtered_and_paged,
    instances_whose_trigger_has_comparisons_or_times_are_found,
);

async fn an_instance_is_stored_changed_and_deleted_with_its_state(store: &impl Backend) {
    let system = store.insert_system(fixtures::system("s", ""), vec![]).await.unwrap().id;
    let trigger = store.insert_trigger(fixtures::trigger("t", ""), vec![]).await.unwrap();
    let build = fixtures::build_instance(&system);
    let (stored, state) = store.insert_instance(system.clone(), trigger.id.clone(), build, vec![]).await.unwrap();
    assert_eq!(state, InstanceState::default(), "a new instance starts from the default state");
    assert_eq!(stored.trigger_id, trigger.id, "built from its trigger");
    assert_eq!(store.get_instance(stored.id.clone()).await.unwrap(), (stored.clone(), state.clone()));
    assert_eq!(store.find_state(stored.id.clone()).await.unwrap(), Some(state.clone()));
    let target = store.webhook_target(stored.id.clone()).await.unwrap();
    assert_eq!(target, Some((stored.clone(), trigger.clone(), state.clone())));

    let change = Box::new(|mut i: TriggerInstance| {
        i.important = true;
        i
    });
    let announce =
        Box::new(|i: &TriggerInstance| vec![fixtures::event("instance.updated", Some(&i.control_system_id))]);
    let ((updated, _), events) =
        store.update_instance(system.clone(), stored.id.clone(), change, announce).await.unwrap();
    assert!(updated.important);
    assert_eq!(events.len(), 1);
    assert_eq!(store.get_instance(stored.id.clone()).await.unwrap().0, updated);
    assert_eq!(store.list_instances_of_trigger(trigger.id.clone()).await.unwrap(), vec![(updated, state)]);

    store.delete_instance(system.clone(), stored.id.clone(), vec![]).await.unwrap();

    assert!(matches!(store.get_instance(stored.id.clone()).await, Err(StoreError::NotFound("trigger instance"))));
    assert_eq!(store.find_state(stored.id.clone()).await.unwrap(), None);
    assert_eq!(store.webhook_target(stored.id).await.unwrap(), None);
    assert_eq!(store.instance_ids_of_system(system).await.unwrap(), vec![]);
}

async fn an_instance_needs_its_system_and_its_trigger(store: &impl Backend) {
    let system = store.insert_system(fixtures::system("s", ""), vec![]).await.unwrap().id;
    let trigger = store.insert_trigger(fixtures::trigger("t", ""), vec![]).await.unwrap().id;
    let missing_system = SystemId::generate();
    let missing_trigger = TriggerId::generate();

    let refused = store
        .insert_instance(missing_system.clone(), trigger.clone(), fixtures::build_instance(&missing_system), vec![])
        .await;
    assert!(matches!(refused, Err(StoreError::NotFound("system"))), "{refused:?}");
    let refused =
        store.insert_instance(system.clone(), missing_trigger, fixtures::build_instance(&system), vec![]).await;
    assert!(matches!(refused, Err(StoreError::Invalid(ref v)) if v.field == "trigger_id"), "{refused:?}");
    assert_eq!(store.instance_ids_of_system(system).await.unwrap(), vec![], "nothing was stored");
    assert_eq!(store.instance_ids_of_trigger(trigger).await.unwrap(), vec![]);
}

async fn an_instance_is_found_only_in_its_own_system(store: &impl Backend) {
    let system = store.insert_system(fixtures::system("s", ""), vec![]).await.unwrap().id;
    let elsewhere = store.insert_system(fixtures::system("elsewhere", ""), vec![]).await.unwrap().id;
    let trigger = store.insert_trigger(fixtures::trigger("t", ""), vec![]).await.unwrap().id;
    let build = fixtures::build_instance(&system);
    let id = store.insert_instance(system.clone(), trigger, build, vec![]).await.unwrap().0.id;

    assert_eq!(store.get_instance_in(system, id.clone()).await.unwrap().0.id, id);
    let results = [
        store.get_instance_in(elsewhere.clone(), id.clone()).await.map(|_| ()),
        store.update_instance(elsewhere.clone(), id.clone(), Box::new(|i| i), Box::new(|_| vec![])).await.map(|_| ()),
        store.delete_instance(elsewhere.clone(), id.clone(), vec![]).await,
        store.get_instance(InstanceId::generate()).await.map(|_| ()),
    ];
    for (i, result) in results.into_iter().enumerate() {
        assert!(matches!(result, Err(StoreError::NotFound("trigger instance"))), "call {i}: {result:?}");
    }
    assert!(store.get_instance(id).await.is_ok(), "still there");
}

async fn a_systems_instances_are_listed_filtered_and_paged(store: &impl Backend) {
    let system = store.insert_system(fixtures::system("s", ""), vec![]).await.unwrap().id;
    let other = store.insert_system(fixtures::system("other", ""), vec![]).await.unwrap().id;
    let t1 = store.insert_trigger(fixtures::trigger("t1", ""), vec![]).await.unwrap().id;
    let t2 = store.insert_trigger(fixtures::trigger("t2", ""), vec![]).await.unwrap().id;
    let mut ids = Vec::new();
    for (trigger, important) in [(&t1, false), (&t2, true), (&t1, true)] {
        let build = fixtures::build_instance(&system);
        let id = store.insert_instance(system.clone(), trigger.clone(), build, vec![]).await.unwrap().0.id;
        if important {
            let mark = Box::new(|mut i: TriggerInstance| {
                i.important = true;
                i
            });
            store.update_instance(system.clone(), id.clone(), mark, Box::new(|_| vec![])).await.unwrap();
        }
        ids.push(id);
    }
    store.insert_instance(other.clone(), t1.clone(), fixtures::build_instance(&other), vec![]).await.unwrap();

    let filter = |trigger: Option<&TriggerId>, triggered, important| InstanceFilter {
        trigger_id: trigger.cloned(),
        triggered,
        important,
    };
    for (case, filter, offset, limit, total, expected) in [
        ("all of the system's", filter(None, None, None), 0, 10, 3, vec![0, 1, 2]),
        ("a page", filter(None, None, None), 1, 1, 3, vec![1]),
        ("past the end", filter(None, None, None), 4, 1, 3, vec![]),
        ("one trigger's", filter(Some(&t1), None, None), 0, 10, 2, vec![0, 2]),
        ("important ones", filter(None, None, Some(true)), 0, 10, 2, vec![1, 2]),
        ("important ones of a trigger", filter(Some(&t1), None, Some(true)), 0, 10, 1, vec![2]),
        ("not triggered", filter(None, Some(false), None), 0, 10, 3, vec![0, 1, 2]),
        ("triggered", filter(None, Some(true), None), 0, 10, 0, vec![]),
    ] {
        let found = store.list_instances_of_system(system.clone(), filter, page(offset, limit)).await.unwrap();
        assert_eq!(found.total, total, "[{case}] total");
        let expected: Vec<InstanceId> = expected.into_iter().map(|i| ids[i].clone()).collect();
        assert_eq!(found.items.into_iter().map(|(i, _)| i.id).collect::<Vec<_>>(), expected, "[{case}] items");
    }
    let missing = store.list_instances_of_system(SystemId::generate(), InstanceFilter::default(), ALL).await;
    assert!(matches!(missing, Err(StoreError::NotFound("system"))), "{missing:?}");
    assert_eq!(store.instance_ids_of_system(system).await.unwrap(), ids);
    assert_eq!(store.instance_ids_of_trigger(t2).await.unwrap(), vec![ids[1].clone()]);
    assert_eq!(store.instances_with_levels_or_times().await.unwrap(), vec![], "webhook-only triggers have neither");
}

async fn instances_whose_trigger_has_comparisons_or_times_are_found(store: &impl Backend) {
    let system = store.insert_system(fixtures::system("s", ""), vec![]).await.unwrap().id;
    let mut wanted = Vec::new();
    for conditions in [
        json!({}),
        json!({"comparisons": [{"left": {"mod": "Display_1", "status": "power"}, "operator": "equal", "right": true}]}),
        json!({"time_dependents": [{"type": "at", "time": 1700000000}]}),
    ] {
        let watched = conditions != json!({});
        let mut trigger = fixtures::trigger("t", "");
        trigger.spec.conditions = serde_json::from_value(conditions).unwrap();
        let trigger = store.insert_trigger(trigger, vec![]).await.unwrap().id;
        for _ in 0..2 {
            let build = fixtures::build_instance(&system);
            let id = store.insert_instance(system.clone(), trigger.clone(), build, vec![]).await.unwrap().0.id;
            if watched {
                wanted.push(id);
            }
        }
    }
    wanted.sort();

    assert_eq!(store.instances_with_levels_or_times().await.unwrap(), wanted, "in id order");
}
