use crate::helpers::*;

#[tokio::test]
async fn healthz_answers_200_without_a_key() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn unknown_routes_answer_a_json_404() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/nope")).send().await.unwrap();
    assert_error(res, 404, "not_found").await;
}
