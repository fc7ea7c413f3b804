use serde_json::json;
use switchboard::domain::module::Module;
use switchboard::domain::{ModuleId, SystemId};
use switchboard::store::repo::ModuleStatusRepo;
use switchboard::store::StoreError;

use crate::fixtures::{self, page, ALL};
use crate::{on_both_backends, Backend};

on_both_backends!(
    a_module_is_stored_changed_and_deleted,
    a_missing_module_is_not_found,
    modules_join_the_end_of_their_systems_list,
    a_moved_module_leaves_the_old_systems_list_and_joins_the_end_of_the_new_ones,
    a_module_in_a_missing_system_is_refused,
    modules_are_listed_filtered_by_q_system_and_driver,
);

async fn a_module_is_stored_changed_and_deleted(store: &impl Backend) {
    let system = store.insert_system(fixtures::system("s", ""), vec![]).await.unwrap().id;
    let stored = store.insert_module(fixtures::module("Display", Some("Left"), Some(&system)), vec![]).await.unwrap();
    assert_eq!(store.get_module(stored.id.clone()).await.unwrap(), stored);

    let change = Box::new(|mut m: Module| {
        m.settings.insert("volume".into(), json!(7));
        Ok(m)
    });
    let (updated, _) = store.update_module(stored.id.clone(), change, Box::new(|_| vec![])).await.unwrap();
    assert_eq!(store.get_module(stored.id.clone()).await.unwrap(), updated);
    assert_eq!(updated.settings["volume"], json!(7));
    assert_eq!(store.get_system(system.clone()).await.unwrap().modules, vec![stored.id.clone()], "still in place");

    store.delete_module(stored.id.clone(), vec![]).await.unwrap();
    assert!(matches!(store.get_module(stored.id).await, Err(StoreError::NotFound("module"))));
    assert_eq!(store.get_system(system.clone()).await.unwrap().modules, vec![], "it left its system's list");
    assert_eq!(store.modules_of_system(system).await.unwrap(), vec![]);
}

async fn a_missing_module_is_not_found(store: &impl Backend) {
    let id = ModuleId::generate();
    let results = [
        store.get_module(id.clone()).await.map(|_| ()),
        store.update_module(id.clone(), Box::new(Ok), Box::new(|_| vec![])).await.map(|_| ()),
        store.delete_module(id.clone(), vec![]).await,
    ];
    for (i, result) in results.into_iter().enumerate() {
        assert!(matches!(result, Err(StoreError::NotFound("module"))), "call {i}: {result:?}");
    }
}

async fn modules_join_the_end_of_their_systems_list(store: &impl Backend) {
    let system = store.insert_system(fixtures::system("s", ""), vec![]).await.unwrap().id;
    let mut ids = Vec::new();
    for driver in ["Display", "Camera", "Display"] {
        ids.push(store.insert_module(fixtures::module(driver, None, Some(&system)), vec![]).await.unwrap().id);
    }
    assert_eq!(store.get_system(system.clone()).await.unwrap().modules, ids);
    let placed: Vec<ModuleId> = store.modules_of_system(system).await.unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(placed, ids);
}

async fn a_moved_module_leaves_the_old_systems_list_and_joins_the_end_of_the_new_ones(store: &impl Backend) {
    let from = store.insert_system(fixtures::system("from", ""), vec![]).await.unwrap().id;
    let to = store.insert_system(fixtures::system("to", ""), vec![]).await.unwrap().id;
    let mut in_from = Vec::new();
    for _ in 0..3 {
        in_from.push(store.insert_module(fixtures::module("Display", None, Some(&from)), vec![]).await.unwrap().id);
    }
    let in_to = store.insert_module(fixtures::module("Camera", None, Some(&to)), vec![]).await.unwrap().id;

    let moved = in_from[0].clone();
    move_to(store, &moved, Some(to.clone())).await.unwrap();

    assert_eq!(store.get_system(from.clone()).await.unwrap().modules, in_from[1..].to_vec());
    assert_eq!(store.get_system(to.clone()).await.unwrap().modules, vec![in_to.clone(), moved.clone()]);
    assert_eq!(store.get_module(moved.clone()).await.unwrap().control_system_id, Some(to.clone()));

    // Out of every system.
    move_to(store, &moved, None).await.unwrap();
    assert_eq!(store.get_system(to.clone()).await.unwrap().modules, vec![in_to]);
    let free = store.list_modules(None, None, None, ALL).await.unwrap().items;
    assert!(free.iter().any(|m| m.id == moved && m.control_system_id.is_none()));

    // And back: at the end again.
    move_to(store, &moved, Some(from.clone())).await.unwrap();
    let mut expected = in_from[1..].to_vec();
    expected.push(moved);
    assert_eq!(store.get_system(from).await.unwrap().modules, expected);
}

async fn a_module_in_a_missing_system_is_refused(store: &impl Backend) {
    let missing = SystemId::generate();
    let module = fixtures::module("Display", None, Some(&missing));
    let refused = store.insert_module(module.clone(), vec![]).await;
    assert!(matches!(refused, Err(StoreError::Invalid(ref v)) if v.field == "control_system_id"), "{refused:?}");
    assert!(matches!(store.get_module(module.id).await, Err(StoreError::NotFound(_))), "nothing was stored");

    let stored = store.insert_module(fixtures::module("Display", None, None), vec![]).await.unwrap();
    let refused = move_to(store, &stored.id, Some(missing)).await;
    assert!(matches!(refused, Err(StoreError::Invalid(ref v)) if v.field == "control_system_id"), "{refused:?}");
    assert_eq!(store.get_module(stored.id.clone()).await.unwrap(), stored, "nothing changed");
}

async fn modules_are_listed_filtered_by_q_system_and_driver(store: &impl Backend) {
    let system = store.insert_system(fixtures::system("s", ""), vec![]).await.unwrap().id;
    let mut ids = Vec::new();
    for (driver, name, in_system) in [
        ("Display", None, true),
        ("Camera", Some("Entrance"), false),
        ("DisplayPort", Some("Wall"), true),
        ("Lights", Some("DISPLAYCASE"), false),
    ] {
        let module = fixtures::module(driver, name, in_system.then_some(&system));
        ids.push(store.insert_module(module, vec![]).await.unwrap().id);
    }
    let all = store.list_modules(None, None, None, ALL).await.unwrap();
    assert_eq!((all.total, all.items.into_iter().map(|m| m.id).collect::<Vec<_>>()), (4, ids.clone()));

    for (case, q, in_system, driver, offset, limit, total, expected) in [
        ("q in drivers and custom names, any case", Some("display"), false, None, 0, 10, 3, vec![0, 2, 3]),
        ("q paged", Some("display"), false, None, 1, 1, 3, vec![2]),
        ("q in a custom name only", Some("entr"), false, None, 0, 10, 1, vec![1]),
        ("a system", None, true, None, 0, 10, 2, vec![0, 2]),
        ("a driver exactly", None, false, Some("Display"), 0, 10, 1, vec![0]),
        ("a driver is case-sensitive", None, false, Some("display"), 0, 10, 0, vec![]),
        ("all three", Some("wall"), true, Some("DisplayPort"), 0, 10, 1, vec![2]),
        ("past the end", None, false, None, 9, 10, 4, vec![]),
    ] {
        let system = in_system.then(|| system.clone());
        let found = store.list_modules(q.map(str::to_owned), system, driver.map(str::to_owned), page(offset, limit));
        let found = found.await.unwrap();
        assert_eq!(found.total, total, "[{case}] total");
        let expected: Vec<ModuleId> = expected.into_iter().map(|i| ids[i].clone()).collect();
        assert_eq!(found.items.into_iter().map(|m| m.id).collect::<Vec<_>>(), expected, "[{case}] items");
    }
}

async fn move_to(store: &impl Backend, module: &ModuleId, system: Option<SystemId>) -> Result<Module, StoreError> {
    let change = Box::new(move |mut m: Module| {
        m.control_system_id = system;
        Ok(m)
    });
    store.update_module(module.clone(), change, Box::new(|_| vec![])).await.map(|(m, _)| m)
}

on_both_backends!(a_deleted_modules_status_goes_with_it);

async fn a_deleted_modules_status_goes_with_it<S: Backend + ModuleStatusRepo>(store: &S) {
    let kept = store.insert_module(fixtures::module("Display", None, None), vec![]).await.unwrap().id;
    let deleted = store.insert_module(fixtures::module("Display", None, None), vec![]).await.unwrap().id;
    let status = |v: i64| json!({"volume": v}).as_object().cloned().unwrap();
    store.save_module_statuses(vec![(kept.clone(), status(1)), (deleted.clone(), status(2))]).await.unwrap();

    store.delete_module(deleted.clone(), vec![]).await.unwrap();
    store.save_module_statuses(vec![(deleted, status(3))]).await.unwrap();

    assert_eq!(store.module_statuses().await.unwrap(), vec![(kept, status(1))]);
}

on_both_backends!(modules_added_at_once_all_join_their_system);

/// Each insert rewrites the system's module list: concurrent ones must not lose each other's.
async fn modules_added_at_once_all_join_their_system<S: Backend>(store: &S) {
    let system = store.insert_system(fixtures::system("s", ""), vec![]).await.unwrap().id;
    let inserts = (0..16).map(|_| store.insert_module(fixtures::module("Display", None, Some(&system)), vec![]));

    let mut added: Vec<ModuleId> =
        futures_util::future::join_all(inserts).await.into_iter().map(|m| m.unwrap().id).collect();

    let mut listed = store.get_system(system).await.unwrap().modules;
    added.sort();
    listed.sort();
    assert_eq!(listed, added);
}
