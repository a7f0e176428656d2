//! The harness's output: one row per figure with its median over the runs,
//! the range, its baselines from the same run and the brief's target, printed
//! as a Markdown table that docs/benchmarks.md quotes as it is.

use crate::stats::Spread;

/// A bound from the brief's "Numbers to reach".
#[derive(Clone, Debug)]
pub enum Bound {
    AtLeast(f64),
    AtMost(f64),
}

#[derive(Clone, Debug)]
pub struct Target {
    pub bound: Bound,
    /// The figure must also reach this share of its first baseline.
    pub min_ratio: Option<f64>,
    /// The figure must stay within this multiple of its first baseline.
    pub max_ratio: Option<f64>,
    /// How the brief says it.
    pub text: String,
}

impl Target {
    pub fn at_least(value: f64, text: &str) -> Self {
        Self {
            bound: Bound::AtLeast(value),
            min_ratio: None,
            max_ratio: None,
            text: text.to_owned(),
        }
    }

    pub fn at_most(value: f64, text: &str) -> Self {
        Self {
            bound: Bound::AtMost(value),
            min_ratio: None,
            max_ratio: None,
            text: text.to_owned(),
        }
    }

    /// Met when the figure is at most `ratio` times its first baseline,
    /// whatever its value (the baseline varies run to run).
    pub fn ratio_at_most(ratio: f64, text: &str) -> Self {
        Self {
            max_ratio: Some(ratio),
            ..Self::at_most(f64::INFINITY, text)
        }
    }

    pub fn with_min_ratio(mut self, ratio: f64) -> Self {
        self.min_ratio = Some(ratio);
        self
    }

    pub fn with_max_ratio(mut self, ratio: f64) -> Self {
        self.max_ratio = Some(ratio);
        self
    }

    fn met(&self, median: f64, ratio: Option<f64>) -> bool {
        let bound = match self.bound {
            Bound::AtLeast(v) => median >= v,
            Bound::AtMost(v) => median <= v,
        };
        let share = match (self.min_ratio, ratio) {
            (Some(min), Some(r)) => r >= min,
            (Some(_), None) => false,
            (None, _) => true,
        };
        let within = match (self.max_ratio, ratio) {
            (Some(max), Some(r)) => r <= max,
            (Some(_), None) => false,
            (None, _) => true,
        };
        bound && share && within
    }
}

/// Something the figure is compared with, measured in the same run and in
/// the figure's unit.
#[derive(Clone, Debug)]
pub struct Baseline {
    pub label: String,
    pub runs: Vec<f64>,
}

#[derive(Clone, Debug)]
pub enum Value {
    /// One value per run.
    Runs(Vec<f64>),
    /// Not measured, and why.
    Missing(String),
}

#[derive(Clone, Debug)]
pub struct Row {
    pub label: String,
    pub unit: String,
    pub value: Value,
    pub baselines: Vec<Baseline>,
    pub target: Option<Target>,
    /// What the reader needs to read the figure right (sizes, what is timed).
    pub note: Option<String>,
}

impl Row {
    pub fn measured(label: impl Into<String>, unit: &str, runs: Vec<f64>) -> Self {
        Self {
            label: label.into(),
            unit: unit.to_owned(),
            value: Value::Runs(runs),
            baselines: Vec::new(),
            target: None,
            note: None,
        }
    }

    pub fn missing(label: impl Into<String>, unit: &str, why: impl Into<String>) -> Self {
        Self {
            value: Value::Missing(why.into()),
            ..Self::measured(label, unit, Vec::new())
        }
    }

    pub fn baseline(mut self, label: impl Into<String>, runs: Vec<f64>) -> Self {
        self.baselines.push(Baseline {
            label: label.into(),
            runs,
        });
        self
    }

    pub fn target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    fn spread(&self) -> Option<Spread> {
        match &self.value {
            Value::Runs(runs) => Spread::of(runs),
            Value::Missing(_) => None,
        }
    }

    /// The figure's median divided by the baseline's median.
    fn ratio_to(&self, baseline: &Baseline) -> Option<f64> {
        let ours = self.spread()?.median;
        let theirs = Spread::of(&baseline.runs)?.median;
        (theirs != 0.0).then(|| ours / theirs)
    }

    /// Whether the brief's target is met; `None` without a target or value.
    pub fn met(&self) -> Option<bool> {
        let target = self.target.as_ref()?;
        let median = self.spread()?.median;
        let ratio = self.baselines.first().and_then(|b| self.ratio_to(b));
        Some(target.met(median, ratio))
    }
}

/// Renders rows as a Markdown table, then the notes.
pub fn render(rows: &[Row]) -> String {
    let mut lines = vec![
        "| figure | unit | median | min–max | runs | ratio | brief's target | met |".to_owned(),
        "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |".to_owned(),
    ];
    for row in rows {
        let target = row.target.as_ref().map_or("—".into(), |t| t.text.clone());
        let met = match row.met() {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "—",
        };
        match (&row.value, row.spread()) {
            (Value::Runs(runs), Some(s)) => lines.push(format!(
                "| {} | {} | {} | {}–{} | {} | | {} | {} |",
                row.label,
                row.unit,
                number(s.median),
                number(s.min),
                number(s.max),
                runs.len(),
                target,
                met
            )),
            (Value::Missing(why), _) => lines.push(format!(
                "| {} | {} | {why} | | | | {target} | — |",
                row.label, row.unit
            )),
            (Value::Runs(_), None) => lines.push(format!(
                "| {} | {} | no runs | | | | {target} | — |",
                row.label, row.unit
            )),
        }
        for baseline in &row.baselines {
            let ratio = row.ratio_to(baseline).map_or("—".into(), ratio);
            match Spread::of(&baseline.runs) {
                Some(s) => lines.push(format!(
                    "| ↳ {} | {} | {} | {}–{} | {} | {ratio} | | |",
                    baseline.label,
                    row.unit,
                    number(s.median),
                    number(s.min),
                    number(s.max),
                    baseline.runs.len()
                )),
                None => lines.push(format!(
                    "| ↳ {} | {} | not measured | | | | | |",
                    baseline.label, row.unit
                )),
            }
        }
    }
    let notes: Vec<String> = rows
        .iter()
        .filter_map(|r| r.note.as_ref().map(|n| format!("- *{}*: {n}", r.label)))
        .collect();
    if !notes.is_empty() {
        lines.push(String::new());
        lines.extend(notes);
    }
    lines.join("\n")
}

/// A value with the precision its size deserves and thousands separated.
pub fn number(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let magnitude = value.abs();
    if magnitude >= 1000.0 || value.fract() == 0.0 {
        grouped(value.round() as i64)
    } else if magnitude >= 100.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

/// An integer with thousands separated by commas.
pub fn grouped(whole: i64) -> String {
    let digits = whole.unsigned_abs().to_string().into_bytes();
    let groups: Vec<&str> = digits
        .rchunks(3)
        .rev()
        .map(|g| std::str::from_utf8(g).expect("ASCII digits"))
        .collect();
    let sign = if whole < 0 { "-" } else { "" };
    format!("{sign}{}", groups.join(","))
}

/// A ratio with two significant digits.
fn ratio(value: f64) -> String {
    if value >= 10.0 {
        format!("{value:.0}×")
    } else if value >= 1.0 {
        format!("{value:.1}×")
    } else {
        format!("{value:.2}×")
    }
}
