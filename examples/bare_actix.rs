//! The framework's ceiling for the benchmark: a bare actix-web server whose only handler reads the
//! whole body and answers 202 with a JSON body the size of Switchboard's webhook answer; under
//! `/callout` it answers 204 without a body instead, the quickest allowing callout (scenario (d)).
//!
//! `cargo run --release --example bare_actix -- 127.0.0.1:18081` (or `BARE_BIND`).

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

// The same allocator as the switchboard binary, so that the two differ only in what they do.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BODY: &str =
    r#"{"trigger_instance":"trig-0192f0e0c0a07c3d9e8f1a2b3c4d5e6f","fired":true,"triggered":false,"trigger_count":1}"#;

async fn any(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    std::hint::black_box(body.len());
    if req.path().starts_with("/callout") {
        return HttpResponse::NoContent().finish();
    }
    HttpResponse::Accepted().content_type("application/json").body(BODY)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("BARE_BIND").ok())
        .unwrap_or_else(|| "127.0.0.1:18081".to_owned());
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    eprintln!("bare_actix: {workers} workers on {bind}");
    HttpServer::new(|| App::new().app_data(web::PayloadConfig::new(1 << 20)).default_service(web::to(any)))
        .workers(workers)
        .bind(&bind)?
        .run()
        .await
}
