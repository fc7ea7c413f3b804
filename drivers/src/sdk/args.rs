use serde_json::{Map, Value};

use super::DriverError;

/// A function's arguments by name. The engine has already checked them against the function's
/// declared parameters, so a getter fails only for a parameter the driver did not declare.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Args(pub Map<String, Value>);

impl Args {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    fn required(&self, name: &str) -> Result<&Value, DriverError> {
        self.get(name).ok_or_else(|| DriverError::InvalidArgs(format!("{name} is required")))
    }

    pub fn bool(&self, name: &str) -> Result<bool, DriverError> {
        self.required(name)?.as_bool().ok_or_else(|| DriverError::InvalidArgs(format!("{name} must be a boolean")))
    }

    pub fn str(&self, name: &str) -> Result<&str, DriverError> {
        self.required(name)?.as_str().ok_or_else(|| DriverError::InvalidArgs(format!("{name} must be a string")))
    }

    pub fn i64(&self, name: &str) -> Result<i64, DriverError> {
        self.required(name)?.as_i64().ok_or_else(|| DriverError::InvalidArgs(format!("{name} must be an integer")))
    }

    pub fn f64(&self, name: &str) -> Result<f64, DriverError> {
        self.required(name)?.as_f64().ok_or_else(|| DriverError::InvalidArgs(format!("{name} must be a number")))
    }
}
