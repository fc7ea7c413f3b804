//! sled's data directory: a stopped app lets go of it at once, so the next process or test opens it.

use crate::helpers::*;

/// Stops an app and at once opens a new one on the same data directory; `true` if that failed.
async fn reopen_fails() -> bool {
    let app = spawn_app().await;
    app.create_system("Room").await;
    let (config, dir) = app.stop().await;
    let reopened = switchboard::startup::Application::build(config).await;
    drop(dir);
    reopened.is_err()
}

#[test]
fn a_stopped_apps_data_directory_reopens_at_once() {
    // Arrange: like the test harness, one current-thread runtime per thread, several threads at once.
    let threads: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
                // Act
                rt.block_on(async {
                    let mut failed = 0;
                    for _ in 0..20 {
                        failed += usize::from(reopen_fails().await);
                    }
                    failed
                })
            })
        })
        .collect();

    // Assert
    let failed: usize = threads.into_iter().map(|t| t.join().expect("the thread ran")).sum();
    assert_eq!(failed, 0, "reopens that failed, out of 160");
}
