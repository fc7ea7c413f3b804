//! The drivers Switchboard ships with. Adding one is a file here plus a line in [`register_all`].
#![forbid(unsafe_code)]

mod display;
pub mod sdk;

use sdk::RegistryBuilder;

pub fn register_all(registry: &mut RegistryBuilder) {
    registry.register(display::descriptor());
}
