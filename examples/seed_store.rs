//! Writes trigger instances straight into a data directory, for the start-up measurement of the
//! benchmark (`bench/run.sh`): `seed_store <data-dir> <instances> [systems]`.
//!
//! The instances are spread over `systems` systems (default 1000) and 100 webhook-enabled triggers
//! with debounce 0, exactly as the admin API would store them.

use std::path::PathBuf;
use std::time::Instant;

use switchboard::domain::instance::TriggerInstance;
use switchboard::domain::system::System;
use switchboard::domain::trigger::{Trigger, TriggerSpec};
use switchboard::domain::{now_epoch_seconds, InstanceId, SystemId, TriggerId};
use switchboard::store::Store;

const TRIGGERS: usize = 100;

fn usage() -> ! {
    eprintln!("usage: seed_store <data-dir> <instances> [systems]");
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(args.first().unwrap_or_else(|| usage()));
    let count: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or_else(|| usage());
    let systems: usize = args.get(2).map(|n| n.parse().unwrap_or_else(|_| usage())).unwrap_or(1000).max(1);

    let started = Instant::now();
    let store = Store::open(&dir)?;
    store
        .run(move |s| {
            let now = now_epoch_seconds();
            let system_ids: Vec<SystemId> = (0..systems)
                .map(|i| {
                    let id = SystemId::generate();
                    s.insert_system(
                        System {
                            id: id.clone(),
                            name: format!("Bench system {i}"),
                            description: String::new(),
                            modules: Vec::new(),
                            created_at: now,
                            updated_at: now,
                        },
                        &[],
                    )?;
                    Ok(id)
                })
                .collect::<Result<_, switchboard::store::StoreError>>()?;
            let trigger_ids: Vec<TriggerId> = (0..TRIGGERS)
                .map(|i| {
                    let id = TriggerId::generate();
                    s.insert_trigger(
                        Trigger {
                            id: id.clone(),
                            spec: TriggerSpec::webhook_only(format!("Bench webhook {i}")),
                            created_at: now,
                            updated_at: now,
                        },
                        &[],
                    )?;
                    Ok(id)
                })
                .collect::<Result<_, switchboard::store::StoreError>>()?;
            for i in 0..count {
                let system = &system_ids[i % systems];
                s.insert_instance(
                    system,
                    &trigger_ids[i % TRIGGERS],
                    |trigger| TriggerInstance {
                        important: trigger.spec.important,
                        exec_enabled: true,
                        ..TriggerInstance::new(InstanceId::generate(), system.clone(), trigger.id.clone(), now)
                    },
                    &[],
                )?;
            }
            s.flush()
        })
        .await?;
    store.close(std::time::Duration::from_secs(5)).await?;
    eprintln!(
        "seed_store: {count} instances in {systems} systems ({TRIGGERS} triggers) written to {} in {:.2}s",
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
