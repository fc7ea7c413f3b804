//! A fire whose write the database refuses for what it holds (not for being away) costs only that
//! write: fires committed with it, and every later fire, are stored and acknowledged. The refusal is
//! made by a database trigger the test installs on `instance_state` for one instance.

use futures_util::future::join_all;
use serde_json::json;

use crate::helpers::*;

/// Calls to each instance, all at once, so that the refused writes share commits with the others.
const CALLS: usize = 12;

async fn database(app: &TestApp) -> tokio_postgres::Client {
    let url = app.config.store.postgres_url.as_ref().expect("a PostgreSQL app");
    let (client, connection) = url.config().connect(tokio_postgres::NoTls).await.expect("the test connects");
    tokio::spawn(connection);
    client
}

/// Makes the database refuse every state write of `instance` (SQLSTATE 22023, a data exception).
async fn refuse_writes_of(db: &tokio_postgres::Client, instance: &str) {
    let sql = format!(
        "CREATE FUNCTION refuse_state() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         IF NEW.instance_id = '{instance}' THEN RAISE EXCEPTION 'refused by the test' USING ERRCODE = '22023'; \
         END IF; RETURN NEW; END $$; \
         CREATE TRIGGER refuse_state BEFORE UPDATE ON instance_state FOR EACH ROW EXECUTE FUNCTION refuse_state();"
    );
    db.batch_execute(&sql).await.expect("the refusing trigger is installed");
}

/// The statuses of `CALLS` simultaneous notify calls to each of `hooks`, per hook.
async fn call_all_at_once(app: &TestApp, hooks: &[&Hook]) -> Vec<Vec<u16>> {
    let calls = hooks.iter().flat_map(|hook| (0..CALLS).map(move |_| hook.url(app)));
    let statuses: Vec<u16> =
        join_all(calls.map(|url| async move { app.client.post(url).send().await.expect("sent").status().as_u16() }))
            .await;
    statuses.chunks(CALLS).map(<[u16]>::to_vec).collect()
}

async fn stored_count(app: &TestApp, hook: &Hook) -> u64 {
    app.get_ok(&hook.path()).await["trigger_count"].as_u64().expect("a count")
}

#[tokio::test]
async fn a_write_the_database_refuses_is_dropped_and_stops_no_other_fire() {
    let app = spawn_app().await;
    let bad = app.hook(json!({})).await;
    let good = app.hook(json!({})).await;
    let db = database(&app).await;
    refuse_writes_of(&db, bad.id()).await;

    for round in 0..3 {
        let statuses = call_all_at_once(&app, &[&bad, &good]).await;
        assert!(statuses[1].iter().all(|s| *s == 202), "round {round}: the good instance's calls: {statuses:?}");
        assert!(
            statuses[0].iter().all(|s| *s == 503),
            "round {round}: the refused instance's calls are not acknowledged: {statuses:?}"
        );
        assert_eq!(stored_count(&app, &good).await, (CALLS * (round + 1)) as u64, "round {round}");
    }
    assert_eq!(stored_count(&app, &bad).await, 0, "nothing of the refused instance was stored");

    // Once the database takes its writes again, the instance fires and its state is stored.
    db.batch_execute("DROP TRIGGER refuse_state ON instance_state").await.expect("the trigger is dropped");
    let res = app.client.post(bad.url(&app)).send().await.expect("sent");
    assert_eq!(res.status(), 202);
    let fired = json(res).await["trigger_count"].as_u64().expect("a count");
    assert_eq!(stored_count(&app, &bad).await, fired);
}
