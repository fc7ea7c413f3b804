use switchboard::domain::receipt::{Receipt, ReceiptFilter};
use switchboard::domain::{InstanceId, ReceiptId, SystemId};
use switchboard::store::{SeenDelivery, StoreError};

use crate::fixtures::{self, page, ALL};
use crate::{new_instance, on_both_backends, on_writer_thread, Backend};

on_both_backends!(
    receipts_of_existing_instances_are_written_counted_and_trimmed_oldest_first,
    receipts_are_listed_newest_first_filtered_and_paged,
    a_receipt_is_found_only_under_its_own_instance_and_system,
    receipts_before_a_cutoff_are_removed_across_instances,
    forgetting_an_instances_calls_takes_its_receipts_and_delivery_ids_only,
    delivery_ids_are_read_oldest_first_forgotten_on_request_and_swept_by_age,
);

fn ids(receipts: &[Receipt]) -> Vec<ReceiptId> {
    receipts.iter().map(|r| r.id.clone()).collect()
}

/// Writes `receipts` through the receipt writer; returns what it said each instance gained.
async fn write(store: &impl Backend, receipts: &[Receipt]) -> Vec<(InstanceId, usize)> {
    let receipts = receipts.to_vec();
    on_writer_thread(store, move |s| s.write_receipts(&receipts)).await.unwrap()
}

async fn count(store: &impl Backend, instance: &InstanceId) -> usize {
    let instance = instance.clone();
    on_writer_thread(store, move |s| s.count_receipts(&instance)).await.unwrap()
}

async fn receipts_of_existing_instances_are_written_counted_and_trimmed_oldest_first(store: &impl Backend) {
    let (a, b) = (new_instance(store, None).await, new_instance(store, None).await);
    let stray = fixtures::build_instance(&SystemId::generate())(&fixtures::trigger("t", ""));
    let made: Vec<Receipt> = [&b, &a, &stray, &b, &a, &a, &a]
        .into_iter()
        .enumerate()
        .map(|(i, instance)| fixtures::receipt(instance, 1_000 + i as u64, 202, true))
        .collect();

    let gained = write(store, &made).await;

    assert_eq!(gained, vec![(b.id.clone(), 2), (a.id.clone(), 4)], "in first-seen order; the stray one's none");
    assert_eq!((count(store, &a.id).await, count(store, &stray.id).await), (4, 0));
    let a_id = a.id.clone();
    on_writer_thread(store, move |s| s.remove_oldest_receipts(&a_id, 3)).await.unwrap();
    let left = store.list_receipts(a.control_system_id.clone(), a.id.clone(), ReceiptFilter::default(), ALL).await;
    assert_eq!(ids(&left.unwrap().items), vec![made[6].id.clone()], "the three oldest went");
    assert_eq!(count(store, &b.id).await, 2, "another instance's receipts are untouched");
}

async fn receipts_are_listed_newest_first_filtered_and_paged(store: &impl Backend) {
    let instance = new_instance(store, None).await;
    let made = vec![
        fixtures::receipt(&instance, 100, 202, true),
        fixtures::receipt(&instance, 200, 401, false),
        fixtures::receipt(&instance, 300, 202, false),
        fixtures::receipt(&instance, 400, 202, true),
    ];
    write(store, &made).await;

    let filter = |status, fired, since| ReceiptFilter { status, fired, since };
    for (case, filter, offset, limit, total, expected) in [
        ("all", filter(None, None, None), 0, 10, 4, vec![3, 2, 1, 0]),
        ("a page", filter(None, None, None), 1, 2, 4, vec![2, 1]),
        ("past the end", filter(None, None, None), 8, 2, 4, vec![]),
        ("a status", filter(Some(202), None, None), 0, 10, 3, vec![3, 2, 0]),
        ("fired", filter(None, Some(true), None), 0, 10, 2, vec![3, 0]),
        ("since, inclusive", filter(None, None, Some(200)), 0, 10, 3, vec![3, 2, 1]),
        ("all three", filter(Some(202), Some(false), Some(200)), 0, 10, 1, vec![2]),
        ("a status none has", filter(Some(500), None, None), 0, 10, 0, vec![]),
    ] {
        let system = instance.control_system_id.clone();
        let found = store.list_receipts(system, instance.id.clone(), filter, page(offset, limit)).await.unwrap();
        let expected: Vec<ReceiptId> = expected.into_iter().map(|i: usize| made[i].id.clone()).collect();
        assert_eq!((found.total, ids(&found.items)), (total, expected), "[{case}]");
    }
}

async fn a_receipt_is_found_only_under_its_own_instance_and_system(store: &impl Backend) {
    let instance = new_instance(store, None).await;
    let system = instance.control_system_id.clone();
    let sibling = new_instance(store, Some(&system)).await;
    let receipt = fixtures::receipt(&instance, 100, 202, true);
    write(store, std::slice::from_ref(&receipt)).await;

    let found = store.get_receipt(system.clone(), instance.id.clone(), receipt.id.clone()).await.unwrap();
    assert_eq!(found, Some(receipt.clone()), "the receipt, whole");
    assert_eq!(store.get_receipt(system.clone(), sibling.id, receipt.id.clone()).await.unwrap(), None);
    let elsewhere = SystemId::generate();
    for (case, result) in [
        (
            "get in another system",
            store.get_receipt(elsewhere.clone(), instance.id.clone(), receipt.id.clone()).await.map(|_| ()),
        ),
        (
            "list in another system",
            store.list_receipts(elsewhere, instance.id.clone(), ReceiptFilter::default(), ALL).await.map(|_| ()),
        ),
        (
            "list of a missing instance",
            store.list_receipts(system, InstanceId::generate(), ReceiptFilter::default(), ALL).await.map(|_| ()),
        ),
    ] {
        assert!(matches!(result, Err(StoreError::NotFound("trigger instance"))), "[{case}] {result:?}");
    }
}

async fn receipts_before_a_cutoff_are_removed_across_instances(store: &impl Backend) {
    let (a, b) = (new_instance(store, None).await, new_instance(store, None).await);
    let old = [fixtures::receipt(&a, 1, 202, true), fixtures::receipt(&b, 1, 202, true)];
    // Receipt ids carry the time they were made: wait for the next millisecond before the cutoff.
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let cutoff = ReceiptId::at_ms(switchboard::domain::now_epoch_ms());
    let new = fixtures::receipt(&a, 2, 202, true);
    write(store, &[old[0].clone(), new.clone(), old[1].clone()]).await;

    let removed = on_writer_thread(store, move |s| s.remove_receipts_before(cutoff.as_str())).await.unwrap();

    assert_eq!(removed, 2);
    assert_eq!((count(store, &a.id).await, count(store, &b.id).await), (1, 0));
    let kept = store.get_receipt(a.control_system_id.clone(), a.id.clone(), new.id.clone()).await.unwrap();
    assert_eq!(kept.map(|r| r.id), Some(new.id));
}

fn seen(delivery_id: &str, receipt: &Receipt, at: u64) -> SeenDelivery {
    SeenDelivery { delivery_id: delivery_id.into(), receipt: receipt.id.clone(), at }
}

async fn forgetting_an_instances_calls_takes_its_receipts_and_delivery_ids_only(store: &impl Backend) {
    let (gone, kept) = (new_instance(store, None).await, new_instance(store, None).await);
    let receipts = [fixtures::receipt(&gone, 1, 202, true), fixtures::receipt(&kept, 1, 202, true)];
    write(store, &receipts).await;
    store.record_delivery(gone.id.clone(), seen("d-1", &receipts[0], 5), vec![]).await.unwrap();
    store.record_delivery(kept.id.clone(), seen("d-1", &receipts[1], 5), vec![]).await.unwrap();

    let id = gone.id.clone();
    on_writer_thread(store, move |s| s.forget_calls(&id)).await.unwrap();

    assert_eq!(count(store, &gone.id).await, 0);
    assert_eq!(store.seen_deliveries(gone.id.clone()).await.unwrap(), vec![]);
    assert_eq!(count(store, &kept.id).await, 1);
    assert_eq!(store.seen_deliveries(kept.id.clone()).await.unwrap(), vec![seen("d-1", &receipts[1], 5)]);
    // The async way to the same end, as the engine takes it when there is no receipt writer.
    store.remove_call_records(kept.id.clone()).await.unwrap();
    assert_eq!((count(store, &kept.id).await, store.seen_deliveries(kept.id.clone()).await.unwrap()), (0, vec![]));
}

async fn delivery_ids_are_read_oldest_first_forgotten_on_request_and_swept_by_age(store: &impl Backend) {
    let (a, b) = (new_instance(store, None).await, new_instance(store, None).await);
    let r = fixtures::receipt(&a, 1, 202, true);
    for (id, at) in [("d-late", 300), ("d-early", 100), ("d-mid", 200)] {
        store.record_delivery(a.id.clone(), seen(id, &r, at), vec![]).await.unwrap();
    }
    store.record_delivery(b.id.clone(), seen("d-b", &r, 50), vec![]).await.unwrap();
    let order = |seen: Vec<SeenDelivery>| seen.into_iter().map(|s| s.delivery_id).collect::<Vec<_>>();
    assert_eq!(order(store.seen_deliveries(a.id.clone()).await.unwrap()), ["d-early", "d-mid", "d-late"]);

    // Seen again later: its time moves; memory dropped two others meanwhile.
    let forgotten = vec!["d-mid".to_owned(), "d-unknown".to_owned()];
    store.record_delivery(a.id.clone(), seen("d-early", &r, 400), forgotten).await.unwrap();
    assert_eq!(order(store.seen_deliveries(a.id.clone()).await.unwrap()), ["d-late", "d-early"]);

    assert_eq!(store.remove_deliveries_before(300).await.unwrap(), 1, "strictly before: only b's");
    assert_eq!(order(store.seen_deliveries(b.id.clone()).await.unwrap()), Vec::<String>::new());
    assert_eq!(store.remove_deliveries_before(401).await.unwrap(), 2);
    assert_eq!(store.seen_deliveries(a.id.clone()).await.unwrap(), vec![]);
}
