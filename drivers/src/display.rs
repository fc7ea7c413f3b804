//! A simulated display. Only its description exists so far; its behaviour arrives with the module
//! runtime.

use crate::sdk::{DriverDescriptor, FunctionDescriptor, JsonType, Param};

pub fn descriptor() -> DriverDescriptor {
    DriverDescriptor {
        name: "Display".into(),
        default_module_name: "Display".into(),
        description: "A simulated display with power, input and volume".into(),
        functions: vec![
            FunctionDescriptor::new("power", "Turns the display on or off")
                .param(Param::required("state", JsonType::Boolean)),
            FunctionDescriptor::new("switch_to", "Selects an input").param(Param::required("input", JsonType::String)),
            FunctionDescriptor::new("volume", "Sets the volume, 0 to 100")
                .param(Param::required("level", JsonType::Integer)),
            FunctionDescriptor::new("request", "Applies a JSON body such as {\"power\": true}").webhook(),
        ],
    }
}
