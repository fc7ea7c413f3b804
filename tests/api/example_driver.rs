//! The driver in `examples/` works end to end.

use serde_json::json;

use crate::counter_driver;
use crate::helpers::*;

#[tokio::test]
async fn the_example_counter_driver_counts_calls_and_webhook_hits() {
    let app = spawn_app_with_drivers(counter_driver::drivers()).await;
    let system = app.create_system("Counting room").await;
    let sys = id(&system).to_owned();
    app.create("/modules", json!({"driver": "Counter", "control_system_id": sys, "settings": {"limit": 10}})).await;
    let trigger = app.create_trigger(json!({"name": "Hits", "enable_webhook": true})).await;
    let inst = app
        .create(&format!("/systems/{sys}/triggers"), json!({"trigger_id": id(&trigger), "exec_enabled": true}))
        .await;
    let hit = format!("{}&exec=true&mod=Counter&method=hit", inst["webhook_url"].as_str().unwrap());

    assert_eq!(json(app.post(&format!("/systems/{sys}/Counter_1/add"), &json!({"by": 8})).await).await, 8);
    let first = app.client.post(&hit).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(json(first).await, json!({"count": 9}));
    app.client.post(&hit).send().await.unwrap();
    let over = app.client.post(&hit).send().await.unwrap();
    assert_eq!(over.status(), 409, "the limit setting holds");

    assert_eq!(json(app.get(&format!("/systems/{sys}/Counter_1")).await).await, json!({"count": 10}));
    let too_far = app.post(&format!("/systems/{sys}/Counter_1/add"), &json!([1])).await;
    assert_error(too_far, 422, "invalid_args").await;
}
