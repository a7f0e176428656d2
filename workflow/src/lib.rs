//! The case workflow's rules that are not wire types: the working calendar
//! deadlines are counted in (`calendar`) and the KPIs cities evaluate
//! departments and districts by (`kpi`). Pure: values in, values out; the
//! server computes deadlines with it, and any device that holds cases can
//! compute the same KPIs offline.

pub mod calendar;
pub mod categories;
pub mod kpi;

pub use calendar::{CalendarError, Date, WorkingCalendar};
pub use kpi::{kpi, CaseFacts, GroupBy, KpiRow, Period};
