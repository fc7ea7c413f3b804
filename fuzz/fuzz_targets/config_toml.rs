//! The config file's TOML over the defaults, validated, as `switchboard --config` loads it: never a
//! panic, and a configuration it accepts, written back as TOML, loads to the same configuration.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::fuzzing;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(config) = fuzzing::config_from_toml(text) else { return };
    // TOML has no null and no integer above i64::MAX: what it cannot write cannot have come from a file.
    let Ok(written) = toml::to_string(&config) else { return };
    match fuzzing::config_from_toml(&written) {
        Ok(again) => assert_eq!(
            serde_json::to_value(&again).unwrap(),
            serde_json::to_value(&config).unwrap(),
            "an accepted configuration written back loads differently:\n{written}"
        ),
        Err(e) => panic!("an accepted configuration written back is refused: {e}\n{written}"),
    }
});
