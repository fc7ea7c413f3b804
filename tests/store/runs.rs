use switchboard::domain::run::{Run, RunFilter, RunStatus};
use switchboard::domain::{InstanceId, RunId, SystemId};

use switchboard::store::StoreError;

use crate::fixtures::{self, page, ALL};
use crate::{new_instance, on_both_backends, Backend};

on_both_backends!(
    runs_are_listed_newest_first_filtered_and_paged,
    a_run_is_found_only_under_its_own_instance_and_system,
    open_runs_are_resumed_in_fire_order_and_finished_ones_trimmed_oldest_first,
    a_removed_run_is_not_brought_back_by_a_late_save,
);

fn fires(runs: &[Run]) -> Vec<u64> {
    runs.iter().map(|r| r.fire).collect()
}

async fn runs_are_listed_newest_first_filtered_and_paged(store: &impl Backend) {
    let instance = new_instance(store, None).await;
    let system = instance.control_system_id.clone();
    let runs: Vec<Run> = (1..=5).map(|fire| fixtures::run(&instance, fire)).collect();
    store.store_runs(runs.clone()).await;
    // Fires 1 and 3 succeed, 2 fails, 4 and 5 wait.
    for (i, succeeded) in [(0, true), (1, false), (2, true)] {
        assert!(store.save_run(fixtures::finished(runs[i].clone(), succeeded)).await.unwrap());
    }

    let status = |status| RunFilter { status: Some(status) };
    for (case, filter, offset, limit, total, expected) in [
        ("all", RunFilter::default(), 0, 10, 5, vec![5, 4, 3, 2, 1]),
        ("a page", RunFilter::default(), 1, 2, 5, vec![4, 3]),
        ("past the end", RunFilter::default(), 9, 2, 5, vec![]),
        ("succeeded", status(RunStatus::Succeeded), 0, 10, 2, vec![3, 1]),
        ("succeeded, a page", status(RunStatus::Succeeded), 1, 10, 2, vec![1]),
        ("failed", status(RunStatus::Failed), 0, 10, 1, vec![2]),
        ("pending", status(RunStatus::Pending), 0, 10, 2, vec![5, 4]),
        ("denied", status(RunStatus::Denied), 0, 10, 0, vec![]),
    ] {
        let found = store.list_runs(system.clone(), instance.id.clone(), filter, page(offset, limit)).await.unwrap();
        assert_eq!((found.total, fires(&found.items)), (total, expected), "[{case}]");
    }
    let saved = store.get_run(system, instance.id.clone(), runs[1].id.clone()).await.unwrap().expect("stored");
    assert_eq!(saved, fixtures::finished(runs[1].clone(), false), "the saved run, whole");
}

async fn a_run_is_found_only_under_its_own_instance_and_system(store: &impl Backend) {
    let instance = new_instance(store, None).await;
    let system = instance.control_system_id.clone();
    let sibling = new_instance(store, Some(&system)).await;
    let run = fixtures::run(&instance, 1);
    store.store_runs(vec![run.clone()]).await;

    assert_eq!(store.get_run(system.clone(), instance.id.clone(), run.id.clone()).await.unwrap(), Some(run.clone()));
    assert_eq!(store.get_run(system.clone(), sibling.id.clone(), run.id.clone()).await.unwrap(), None);
    assert_eq!(store.get_run(system.clone(), instance.id.clone(), RunId::generate()).await.unwrap(), None);
    assert_eq!(store.list_runs(system.clone(), sibling.id, RunFilter::default(), ALL).await.unwrap().total, 0);
    let elsewhere = SystemId::generate();
    for (case, result) in [
        (
            "get in another system",
            store.get_run(elsewhere.clone(), instance.id.clone(), run.id.clone()).await.map(|_| ()),
        ),
        (
            "list in another system",
            store.list_runs(elsewhere, instance.id.clone(), RunFilter::default(), ALL).await.map(|_| ()),
        ),
        (
            "list of a missing instance",
            store.list_runs(system, InstanceId::generate(), RunFilter::default(), ALL).await.map(|_| ()),
        ),
    ] {
        assert!(matches!(result, Err(StoreError::NotFound("trigger instance"))), "[{case}] {result:?}");
    }
}

async fn open_runs_are_resumed_in_fire_order_and_finished_ones_trimmed_oldest_first(store: &impl Backend) {
    let (a, b) = (new_instance(store, None).await, new_instance(store, None).await);
    let mut runs: Vec<Run> = (1..=4).map(|fire| fixtures::run(&a, fire)).collect();
    runs.push(fixtures::run(&b, 1));
    store.store_runs(runs.clone()).await;
    for run in &runs[..3] {
        assert!(store.save_run(fixtures::finished(run.clone(), true)).await.unwrap());
    }

    let open = store.open_runs().await.unwrap();
    assert_eq!(open, vec![runs[3].clone(), runs[4].clone()], "instances in id order, each in fire order");

    store.trim_runs(a.id.clone(), 1).await.unwrap();
    let system = a.control_system_id.clone();
    let left = store.list_runs(system.clone(), a.id.clone(), RunFilter::default(), ALL).await.unwrap();
    assert_eq!(fires(&left.items), [4, 3], "the open run stays and the newest finished one is kept");
    store.trim_runs(a.id.clone(), 0).await.unwrap();
    let left = store.list_runs(system, a.id.clone(), RunFilter::default(), ALL).await.unwrap();
    assert_eq!(fires(&left.items), [4], "an open run is never trimmed");
    assert_eq!(store.open_runs().await.unwrap().len(), 2, "trimming touched no open run");
}

async fn a_removed_run_is_not_brought_back_by_a_late_save(store: &impl Backend) {
    let (gone, kept) = (new_instance(store, None).await, new_instance(store, None).await);
    let (mut late, other) = (fixtures::run(&gone, 1), fixtures::run(&kept, 1));
    store.store_runs(vec![late.clone(), other.clone()]).await;

    // What the engine does when an instance is deleted.
    store.delete_instance(gone.control_system_id.clone(), gone.id.clone(), vec![]).await.unwrap();
    store.remove_runs(gone.id.clone()).await.unwrap();
    late.status = RunStatus::Running;

    assert!(!store.save_run(late).await.unwrap(), "the save finds no run");
    assert_eq!(store.open_runs().await.unwrap(), vec![other], "only the other instance's run is left");
    let never_stored = fixtures::run(&kept, 2);
    assert!(!store.save_run(never_stored).await.unwrap(), "a save never creates a run");
}
