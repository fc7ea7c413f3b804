use switchboard::domain::system::System;
use switchboard::domain::{ModuleId, SystemId};
use switchboard::store::StoreError;

use crate::fixtures::{self, page, ALL};
use crate::{on_both_backends, Backend};

on_both_backends!(
    a_system_is_stored_changed_and_deleted,
    a_missing_system_is_not_found,
    systems_are_listed_in_creation_order_paged_and_filtered_by_q,
    a_systems_module_list_places_its_modules_in_its_order,
    a_bad_module_list_is_refused_and_changes_nothing,
    deleting_a_system_takes_its_instances_and_scoped_callouts_and_frees_its_modules,
);

async fn a_system_is_stored_changed_and_deleted(store: &impl Backend) {
    let stored = store.insert_system(fixtures::system("Lobby", "ground floor"), vec![]).await.unwrap();
    assert_eq!(store.get_system(stored.id.clone()).await.unwrap(), stored);

    let change = Box::new(|mut s: System| {
        s.name = "Foyer".into();
        Ok(s)
    });
    let announce = Box::new(|s: &System| vec![fixtures::event("system.updated", Some(&s.id))]);
    let (updated, events) = store.update_system(stored.id.clone(), change, announce).await.unwrap();
    assert_eq!(updated.name, "Foyer");
    assert_eq!(events.len(), 1, "the events announce made of the result come back");
    assert_eq!(store.get_system(stored.id.clone()).await.unwrap(), updated);

    let refused = store
        .update_system(
            stored.id.clone(),
            Box::new(|_| Err(switchboard::domain::ValidationError::new("name", "no"))),
            Box::new(|_| vec![]),
        )
        .await;
    assert!(matches!(refused, Err(StoreError::Invalid(ref v)) if v.field == "name"), "{refused:?}");
    assert_eq!(store.get_system(stored.id.clone()).await.unwrap().name, "Foyer", "a refused change changes nothing");

    assert_eq!(store.delete_system(stored.id.clone(), vec![]).await.unwrap(), vec![]);
    assert!(matches!(store.get_system(stored.id).await, Err(StoreError::NotFound("system"))));
}

async fn a_missing_system_is_not_found(store: &impl Backend) {
    let id = SystemId::generate();
    let results = [
        store.get_system(id.clone()).await.map(|_| ()),
        store.update_system(id.clone(), Box::new(Ok), Box::new(|_| vec![])).await.map(|_| ()),
        store.delete_system(id.clone(), vec![]).await.map(|_| ()),
        store.modules_of_system(id.clone()).await.map(|_| ()),
    ];
    for (i, result) in results.into_iter().enumerate() {
        assert!(matches!(result, Err(StoreError::NotFound("system"))), "call {i}: {result:?}");
    }
}

async fn systems_are_listed_in_creation_order_paged_and_filtered_by_q(store: &impl Backend) {
    let mut ids = Vec::new();
    for (name, description) in
        [("Lobby", ""), ("Board room", "LOBBY side"), ("Über Saal", ""), ("Kitchen", "second floor"), ("Roof", "")]
    {
        ids.push(store.insert_system(fixtures::system(name, description), vec![]).await.unwrap().id);
    }
    let listed = store.list_systems(None, ALL).await.unwrap();
    assert_eq!(listed.total, 5);
    assert_eq!(listed.items.iter().map(|s| s.id.clone()).collect::<Vec<_>>(), ids, "creation order");

    for (case, q, offset, limit, total, expected) in [
        ("a middle page", None, 1, 2, 5, vec![1, 2]),
        ("a page past the end still counts", None, 10, 2, 5, vec![]),
        ("a zero-sized page still counts", None, 0, 0, 5, vec![]),
        ("q in names and descriptions, any case", Some("lobby"), 0, 10, 2, vec![0, 1]),
        ("q paged", Some("LOBBY"), 1, 10, 2, vec![1]),
        ("q lowercases beyond ASCII", Some("ÜBER"), 0, 10, 1, vec![2]),
        ("q in a description only", Some("floor"), 0, 10, 1, vec![3]),
        ("q matching nothing", Some("basement"), 0, 10, 0, vec![]),
        ("an empty q matches all", Some(""), 0, 10, 5, vec![0, 1, 2, 3, 4]),
    ] {
        let found = store.list_systems(q.map(str::to_owned), page(offset, limit)).await.unwrap();
        assert_eq!(found.total, total, "[{case}] total");
        let expected: Vec<SystemId> = expected.into_iter().map(|i| ids[i].clone()).collect();
        assert_eq!(found.items.into_iter().map(|s| s.id).collect::<Vec<_>>(), expected, "[{case}] items");
    }
}

async fn a_systems_module_list_places_its_modules_in_its_order(store: &impl Backend) {
    let system = store.insert_system(fixtures::system("s", ""), vec![]).await.unwrap();
    let mut modules = Vec::new();
    for driver in ["Display", "Camera", "Lights"] {
        modules.push(store.insert_module(fixtures::module(driver, None, None), vec![]).await.unwrap().id);
    }
    let order = vec![modules[2].clone(), modules[0].clone()];

    set_modules(store, &system.id, order.clone()).await.unwrap();

    assert_eq!(store.get_system(system.id.clone()).await.unwrap().modules, order);
    let placed: Vec<ModuleId> =
        store.modules_of_system(system.id.clone()).await.unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(placed, order, "modules_of_system keeps the system's order");
    for (module, owner) in [(&modules[0], Some(&system.id)), (&modules[1], None), (&modules[2], Some(&system.id))] {
        assert_eq!(store.get_module(module.clone()).await.unwrap().control_system_id.as_ref(), owner);
    }

    // A module the list no longer names leaves the system.
    set_modules(store, &system.id, vec![modules[0].clone()]).await.unwrap();
    assert_eq!(store.get_module(modules[2].clone()).await.unwrap().control_system_id, None);
    assert_eq!(store.get_module(modules[0].clone()).await.unwrap().control_system_id, Some(system.id.clone()));
    let listed = store.list_modules(None, Some(system.id.clone()), None, ALL).await.unwrap();
    assert_eq!(listed.items.into_iter().map(|m| m.id).collect::<Vec<_>>(), vec![modules[0].clone()]);
}

async fn a_bad_module_list_is_refused_and_changes_nothing(store: &impl Backend) {
    let system = store.insert_system(fixtures::system("s", ""), vec![]).await.unwrap();
    let other = store.insert_system(fixtures::system("other", ""), vec![]).await.unwrap();
    let free = store.insert_module(fixtures::module("Display", None, None), vec![]).await.unwrap().id;
    let taken = store.insert_module(fixtures::module("Display", None, Some(&other.id)), vec![]).await.unwrap().id;
    let missing = ModuleId::generate();

    for (case, list, field, message) in [
        ("listed twice", vec![free.clone(), free.clone()], "modules[1]", "is listed twice".to_owned()),
        ("missing", vec![free.clone(), missing.clone()], "modules[1]", format!("module {missing} does not exist")),
        ("another system's", vec![taken.clone()], "modules[0]", format!("belongs to system {}", other.id)),
    ] {
        let refused = set_modules(store, &system.id, list.clone()).await;
        match refused {
            Err(StoreError::Invalid(v)) => {
                assert_eq!(v.field, field, "[{case}]");
                assert!(v.message.contains(&message), "[{case}] {} should say {message}", v.message);
            }
            other => panic!("[{case}] refused as invalid, got {other:?}"),
        }
        let mut new_system = fixtures::system("new", "");
        new_system.modules = list;
        let refused = store.insert_system(new_system.clone(), vec![]).await;
        assert!(matches!(refused, Err(StoreError::Invalid(_))), "[{case}] an insert is refused too: {refused:?}");
        assert!(matches!(store.get_system(new_system.id).await, Err(StoreError::NotFound(_))), "[{case}]");
        assert_eq!(store.get_system(system.id.clone()).await.unwrap().modules, vec![], "[{case}]");
        assert_eq!(store.get_module(free.clone()).await.unwrap().control_system_id, None, "[{case}]");
        assert_eq!(store.get_system(other.id.clone()).await.unwrap().modules, vec![taken.clone()], "[{case}]");
    }
}

async fn deleting_a_system_takes_its_instances_and_scoped_callouts_and_frees_its_modules(store: &impl Backend) {
    let doomed = store.insert_system(fixtures::system("doomed", ""), vec![]).await.unwrap().id;
    let kept = store.insert_system(fixtures::system("kept", ""), vec![]).await.unwrap().id;
    let module = store.insert_module(fixtures::module("Display", None, Some(&doomed)), vec![]).await.unwrap().id;
    let trigger = store.insert_trigger(fixtures::trigger("t", ""), vec![]).await.unwrap().id;
    let mut instances = Vec::new();
    for _ in 0..3 {
        let build = fixtures::build_instance(&doomed);
        instances.push(store.insert_instance(doomed.clone(), trigger.clone(), build, vec![]).await.unwrap().0.id);
    }
    let survivor = store.insert_instance(kept.clone(), trigger.clone(), fixtures::build_instance(&kept), vec![]);
    let survivor = survivor.await.unwrap().0.id;
    let scoped = store.insert_callout(fixtures::callout("scoped", Some(&doomed)), vec![]).await.unwrap().id;
    let global = store.insert_callout(fixtures::callout("global", None), vec![]).await.unwrap().id;
    store.append_callout_log(vec![(scoped.clone(), fixtures::log_entry(&doomed, 1))]).await.unwrap();

    let deleted = store.delete_system(doomed.clone(), vec![]).await.unwrap();

    instances.sort();
    assert_eq!(deleted, instances, "the deleted instances, in id order");
    for id in &instances {
        assert!(matches!(store.get_instance(id.clone()).await, Err(StoreError::NotFound(_))));
        assert_eq!(store.find_state(id.clone()).await.unwrap(), None, "the state goes with the instance");
    }
    assert_eq!(store.get_instance(survivor.clone()).await.unwrap().0.control_system_id, kept);
    assert!(matches!(store.get_callout(scoped.clone()).await, Err(StoreError::NotFound("callout"))));
    assert_eq!(store.count_callout_log(scoped).await.unwrap(), 0, "the scoped callout's log goes with it");
    assert!(store.get_callout(global).await.is_ok(), "an unscoped callout stays");
    let module = store.get_module(module).await.unwrap();
    assert_eq!(module.control_system_id, None, "its modules stay, outside any system");
    assert_eq!(store.instance_ids_of_system(doomed).await.unwrap(), vec![]);
}

async fn set_modules(store: &impl Backend, system: &SystemId, modules: Vec<ModuleId>) -> Result<System, StoreError> {
    let change = Box::new(move |mut s: System| {
        s.modules = modules;
        Ok(s)
    });
    store.update_system(system.clone(), change, Box::new(|_| vec![])).await.map(|(s, _)| s)
}
