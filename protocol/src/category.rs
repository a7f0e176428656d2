//! The category table (GB/T 30428.2 components and events) as the wire and
//! the devices see it. A city edits its own table; the server ships a default.

use serde::{Deserialize, Serialize};

/// The two families of the national standard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// 部件: physical assets.
    Component,
    /// 事件: events.
    Event,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Component => "component",
            Family::Event => "event",
        }
    }
}

/// A time limit as a city's table states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeLimit {
    WorkingHours(u32),
    WorkingDays(u32),
}

/// One subclass of the table; reports carry its `code`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Category {
    /// Subclass code, e.g. `0101` (component class 01, subclass 01).
    pub code: String,
    pub family: Family,
    /// Class code and name, e.g. `01` 公用设施.
    pub class_code: String,
    pub class_name: String,
    /// Subclass name in the city's language, e.g. 上水井盖.
    pub name: String,
    /// English name, for the docs and for operators who need it.
    pub name_en: String,
    pub register_limit: Option<TimeLimit>,
    pub dispose_limit: Option<TimeLimit>,
}

/// The whole table with its version; devices cache it for offline use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CategoryTable {
    pub version: u64,
    pub categories: Vec<Category>,
}

impl CategoryTable {
    pub fn get(&self, code: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.code == code)
    }
}
