//! The driver API ([`sdk`]) and the drivers Switchboard ships with. Adding a driver is a file here
//! plus a line in [`register_all`].
#![forbid(unsafe_code)]

mod display;
mod forward;
mod meraki;
mod mist;
pub mod sdk;

use sdk::RegistryBuilder;

pub use display::Display;
pub use forward::Forward;
pub use meraki::Meraki;
pub use mist::Mist;

pub fn register_all(registry: &mut RegistryBuilder) {
    registry.register::<Display>().register::<Meraki>().register::<Mist>().register::<Forward>();
}
