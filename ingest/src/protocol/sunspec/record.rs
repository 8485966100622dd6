//! One `<d>` record being assembled: its models' points scaled, mapped onto canonical metrics or
//! kept as extras, and finally turned into a reading and a device description, or a refusal.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use heliograph_shared::{
    Device, DeviceId, DeviceKind, DeviceStatus, GatewayId, Metric, Metrics, Reading, Unit, parse_value,
};
use quick_xml::events::BytesStart;

use super::models::{Family, Role, ScaleFactorPoint};
use crate::protocol::answer::RejectedReading;
use crate::protocol::error::{ErrorCode, ProtocolError};
use crate::protocol::known_ids::KnownIds;
use crate::protocol::xml::{attribute_value, duplicate, unchecked_attributes};
use crate::protocol::{ParseContext, RecordOutcome};

/// Longest point value, id or attribute kept (numbers, ids and names are short).
pub(super) const MAX_TEXT: usize = 64;
/// Longest re-serialised content kept for a quarantined record.
const MAX_CONTENT: usize = 1024;
/// Scale factors outside this range are refused: real models use -6..=6 or so.
const SCALE_FACTORS: std::ops::RangeInclusive<i32> = -10..=10;
/// The SunSpec code for a refused record.
const REFUSED: &str = "INVALID_MESSAGE";

/// One `<p>` as sent; reused from model to model.
#[derive(Debug, Default)]
pub(super) struct Point {
    /// The `id` attribute.
    pub(super) id: String,
    /// The `x` attribute (repeating block index), when present and valid.
    pub(super) repeat: Option<u32>,
    /// The `sf` attribute as sent, when present.
    pub(super) sf: Option<String>,
    /// The `u` attribute as sent, when present.
    pub(super) unit: Option<String>,
    /// The text, up to [`MAX_TEXT`] bytes.
    pub(super) text: String,
    /// The text was longer than [`MAX_TEXT`].
    pub(super) too_long: bool,
    /// The start tag last read into this slot, as sent, when it was read without error, and the
    /// problem it had: the same slot of the next record usually opens with the same bytes, and
    /// then nothing needs reading again.
    tag: Option<(Vec<u8>, Option<String>)>,
    /// What the point means in the model it was last resolved for.
    meaning: Option<PointMeaning>,
}

/// What a point means inside one model; depends only on its start tag and the model.
#[derive(Debug)]
struct PointMeaning {
    model: u16,
    /// `model.id`, with `.repeat` when repeated: the name of extras and in messages.
    name: Arc<str>,
    role: Role,
    /// The point whose value scales this one, when no `sf` attribute is given.
    scale_factor: Cow<'static, str>,
}

impl PointMeaning {
    fn of(model: u16, point: &Point) -> Self {
        let family = Family::of(model);
        let mut name = String::new();
        // Writing to a String cannot fail.
        let _ = write!(name, "{model}.{}", point.id);
        if let Some(repeat) = point.repeat {
            let _ = write!(name, ".{repeat}");
        }
        let scale_factor = match family.scale_factor_point(&point.id) {
            ScaleFactorPoint::Shared(name) => Cow::Borrowed(name),
            ScaleFactorPoint::Own => Cow::Owned(format!("{}_SF", point.id)),
        };
        Self { model, name: name.into(), role: family.role(&point.id), scale_factor }
    }
}

impl Point {
    /// Reads a `<p>` start tag into this (reused) point; a problem is returned, not raised, as
    /// it refuses only the record.
    pub(super) fn open(&mut self, element: &BytesStart<'_>) -> Result<Option<String>, ProtocolError> {
        self.text.clear();
        self.too_long = false;
        let raw: &[u8] = element;
        if let Some((tag, problem)) = &self.tag
            && tag == raw
        {
            return Ok(problem.clone());
        }
        let read = self.read(element);
        self.meaning = None;
        self.tag = read.as_ref().ok().map(|problem| (raw.to_vec(), problem.clone()));
        read
    }

    /// Resolves what the point means in `model`, unless known already.
    pub(super) fn resolve(&mut self, model: u16) {
        if self.meaning.as_ref().is_none_or(|meaning| meaning.model != model) {
            self.meaning = Some(PointMeaning::of(model, self));
        }
    }

    fn read(&mut self, element: &BytesStart<'_>) -> Result<Option<String>, ProtocolError> {
        self.id.clear();
        self.repeat = None;
        self.sf = None;
        self.unit = None;
        let (mut has_id, mut problem) = (false, None);
        each_attribute(element, |key, value| match key {
            b"id" => {
                has_id = true;
                if value.len() > MAX_TEXT {
                    problem.get_or_insert_with(|| {
                        format!("point id {:?}… is longer than {MAX_TEXT} characters", bounded(&value))
                    });
                } else {
                    self.id.push_str(&value);
                }
            }
            b"x" => match value.trim().parse::<u32>() {
                Ok(repeat) => self.repeat = Some(repeat),
                Err(_) => {
                    problem.get_or_insert_with(|| {
                        format!("repeat index x={:?} is not a whole number", bounded(&value))
                    });
                }
            },
            b"sf" => self.sf = Some(bounded(&value)),
            b"u" => self.unit = Some(bounded(&value)),
            _ => {}
        })?;
        if !has_id && problem.is_none() {
            problem = Some("<p> needs an id attribute".to_owned());
        }
        Ok(problem)
    }

    /// Adds a piece of the point's text, remembering when it grows too long.
    pub(super) fn push_text(&mut self, text: &str) {
        if self.text.len() + text.len() > MAX_TEXT {
            self.too_long = true;
        } else {
            self.text.push_str(text);
        }
    }
}

/// A value competing for a canonical metric; the losers are kept as extras.
#[derive(Debug)]
struct Candidate {
    metric: Metric,
    /// (model position in the record, rank among the model's alternatives, repeat, point order).
    precedence: (usize, u8, u32, usize),
    value: f64,
    /// The extra name it is kept under if it loses.
    name: Arc<str>,
}

/// A device's description, from `<d>` attributes or the common model.
#[derive(Debug, Default)]
struct Description {
    manufacturer: Option<String>,
    model: Option<String>,
    serial: Option<String>,
}

/// One `<d>` record; its buffers are reused from record to record.
#[derive(Debug, Default)]
pub(super) struct Record {
    /// 1-based position in the document.
    index: usize,
    /// The `t` attribute as sent (bounded), and its parsed value when plausible.
    t: Option<String>,
    ts: Option<DateTime<Utc>>,
    cid: Option<String>,
    /// Device ids offered by the `sn` and `lid` attributes, when valid.
    sn: Option<DeviceId>,
    lid: Option<DeviceId>,
    /// The serial number offered by the common model, when a valid device id.
    common_sn: Option<DeviceId>,
    attributes: Description,
    common: Description,
    /// The first reason to refuse the record.
    problem: Option<String>,
    /// The record as sent, compactly, for the quarantine.
    content: String,
    /// Points seen so far, against the per-record bound.
    pub(super) points: usize,
    /// Models seen so far (their position decides precedence).
    models: usize,
    kind: Option<(u8, DeviceKind)>,
    candidates: Vec<Candidate>,
    metrics: Metrics,
    status: Option<DeviceStatus>,
    module_power: Option<f64>,
    /// Indices of the current model's `*_SF` points, sorted by id.
    scale_factors: Vec<usize>,
    /// Scratch space for names.
    name: String,
    /// Device ids already parsed in this document, shared by the records that name them again.
    known_ids: KnownIds,
}

/// What a closed record became.
pub(super) struct Closed {
    /// Its outcome for the `dResult` answer.
    pub(super) outcome: RecordOutcome,
    /// The reading and device description to store, or why not.
    pub(super) result: Result<(Reading, Device), RejectedReading>,
}

impl Record {
    /// Starts the `index`th record from its `<d>` start tag.
    pub(super) fn open(
        &mut self,
        index: usize,
        element: &BytesStart<'_>,
        context: &ParseContext,
    ) -> Result<(), ProtocolError> {
        let scale_factors = std::mem::take(&mut self.scale_factors);
        let (mut content, mut name, mut candidates, known_ids) = (
            std::mem::take(&mut self.content),
            std::mem::take(&mut self.name),
            std::mem::take(&mut self.candidates),
            std::mem::take(&mut self.known_ids),
        );
        content.clear();
        name.clear();
        candidates.clear();
        *self = Self { index, content, name, candidates, scale_factors, known_ids, ..Self::default() };
        each_attribute(element, |key, value| match key {
            b"t" => {
                match context.timestamps.parse(&value, context.now) {
                    Ok(ts) => self.ts = Some(ts),
                    Err(e) => self.refuse(e.to_string()),
                }
                self.t = Some(bounded(&value));
            }
            b"cid" => self.cid = Some(bounded(&value)),
            b"sn" => {
                self.sn = self.known_ids.parse(&value).ok();
                self.attributes.serial = description(&value);
            }
            b"lid" => self.lid = self.known_ids.parse(&value).ok(),
            b"man" => self.attributes.manufacturer = description(&value),
            b"mod" => self.attributes.model = description(&value),
            _ => {}
        })?;
        if self.t.is_none() {
            self.refuse("<d> needs a t attribute (its timestamp)");
        }
        Ok(())
    }

    /// Records why the record is refused, unless an earlier problem already did.
    pub(super) fn refuse(&mut self, reason: impl Into<String>) {
        if self.problem.is_none() {
            self.problem = Some(reason.into());
        }
    }

    /// Adds a closed point to the quarantine content (`101.W=6701.3 sf=-1 Watts; `).
    pub(super) fn note_point(&mut self, model: &str, point: &Point) {
        if self.content.len() >= MAX_CONTENT {
            return;
        }
        let content = &mut self.content;
        content.push_str(model);
        content.push('.');
        content.push_str(&point.id);
        if let Some(repeat) = point.repeat {
            // Writing to a String cannot fail.
            let _ = write!(content, ".{repeat}");
        }
        content.push('=');
        content.push_str(point.text.trim());
        if point.too_long {
            content.push('…');
        }
        if let Some(sf) = &point.sf {
            content.push_str(" sf=");
            content.push_str(sf);
        }
        if let Some(unit) = &point.unit {
            content.push(' ');
            content.push_str(unit);
        }
        content.push_str("; ");
    }

    /// Interprets one model's points once it has closed (its `*_SF` points may come last).
    pub(super) fn add_model(&mut self, model: u16, points: &[Point]) {
        let family = Family::of(model);
        let position = self.models;
        self.models += 1;
        if let Some((rank, kind)) = family.device_kind()
            && self.kind.is_none_or(|(best, _)| rank < best)
        {
            self.kind = Some((rank, kind));
        }
        if self.problem.is_some() {
            return;
        }
        self.scale_factors.clear();
        self.scale_factors.extend((0..points.len()).filter(|&i| points[i].id.ends_with("_SF")));
        // Stable: the first of duplicated scale factors is found first.
        self.scale_factors.sort_by(|&a, &b| points[a].id.cmp(&points[b].id));
        for (order, point) in points.iter().enumerate() {
            if let Err(reason) = self.add_point(model, family, (position, order), point, points) {
                self.refuse(reason);
                return;
            }
        }
    }

    fn add_point(
        &mut self,
        model: u16,
        family: Family,
        (position, order): (usize, usize),
        point: &Point,
        points: &[Point],
    ) -> Result<(), String> {
        let resolved_here;
        let meaning = match &point.meaning {
            Some(meaning) if meaning.model == model => meaning,
            _ => {
                resolved_here = PointMeaning::of(model, point);
                &resolved_here
            }
        };
        self.name.clear();
        self.name.push_str(&meaning.name);
        if point.too_long {
            return Err(format!("value of {} is longer than {MAX_TEXT} characters", self.name));
        }
        let text = point.text.trim();
        let role = meaning.role;
        match role {
            Role::Text | Role::ScaleFactor => {}
            Role::Manufacturer => set_once(&mut self.common.manufacturer, text),
            Role::ModelName => set_once(&mut self.common.model, text),
            Role::Serial => {
                set_once(&mut self.common.serial, text);
                if self.common_sn.is_none() {
                    self.common_sn = self.known_ids.parse(text).ok();
                }
            }
            Role::Status => {
                let status = sunspec_status(text)
                    .ok_or_else(|| format!("{} {text:?} is not a SunSpec operating state", self.name))?;
                self.status.get_or_insert(status);
            }
            Role::Metric { metric, rank } => {
                let number = parse_value(&self.name, text).map_err(|e| e.to_string())?;
                let scaled = self.scaled(number, point, &meaning.scale_factor, points)?;
                let unit = point.unit.as_deref().and_then(|u| Unit::parse_for(u, metric.quantity()).ok());
                self.candidates.push(Candidate {
                    metric,
                    precedence: (position, rank, point.repeat.unwrap_or(0), order),
                    value: unit.map_or(scaled, |u| u.to_canonical(scaled)),
                    name: Arc::clone(&meaning.name),
                });
            }
            Role::ModulePower | Role::Extra => {
                let number = match parse_value(&self.name, text) {
                    Ok(number) => number,
                    // Vendors' own text points are not measurements.
                    Err(_) if !family.defines_number(&point.id) => return Ok(()),
                    Err(e) => return Err(e.to_string()),
                };
                let scaled = self.scaled(number, point, &meaning.scale_factor, points)?;
                let value = match point.unit.as_deref().map(Unit::parse) {
                    Some(Ok(unit)) => unit.to_canonical(scaled),
                    _ => scaled,
                };
                self.insert_extra(value)?;
                if role == Role::ModulePower {
                    *self.module_power.get_or_insert(0.0) += value;
                }
            }
        }
        Ok(())
    }

    /// Keeps a value as an extra under the name in `self.name`; the first of duplicates wins.
    fn insert_extra(&mut self, value: f64) -> Result<(), String> {
        if self.metrics.extra.contains_key(&self.name) {
            return Ok(());
        }
        self.metrics.insert_extra(&self.name, value, None).map_err(|e| e.to_string())
    }

    /// Applies the point's scale factor: its `sf` attribute, else its sibling `*_SF` point.
    fn scaled(&self, number: f64, point: &Point, sibling: &str, points: &[Point]) -> Result<f64, String> {
        let (source, text) = match &point.sf {
            Some(sf) => ("sf", sf.as_str()),
            None => {
                // The first of duplicated scale factors (the sort kept document order).
                let at = self.scale_factors.partition_point(|&i| points[i].id.as_str() < sibling);
                match self.scale_factors.get(at).map(|&i| &points[i]) {
                    Some(found) if found.id == sibling => (sibling, found.text.trim()),
                    _ => return Ok(number),
                }
            }
        };
        let sf = parse_scale_factor(text).ok_or_else(|| {
            format!(
                "scale factor {source}={text:?} of {} is not a whole number from {} to {}",
                self.name,
                SCALE_FACTORS.start(),
                SCALE_FACTORS.end()
            )
        })?;
        Ok(scale(number, sf))
    }

    /// Ends the record: picks the canonical metrics, and builds the reading or the refusal.
    pub(super) fn close(&mut self, gateway: &GatewayId) -> Closed {
        let device = self.device_id();
        let result = self.build(gateway, &device).map_err(|reason| RejectedReading {
            device: device.as_str().to_owned(),
            ts: self.t.clone().unwrap_or_default(),
            reason,
            content: self.quarantine_content(),
        });
        let failure = result.as_ref().err().map(|rejected| (REFUSED, rejected.reason.clone()));
        Closed {
            outcome: RecordOutcome {
                index: self.index,
                // The record is done with them: the next one starts afresh.
                t: self.t.take().unwrap_or_default(),
                cid: self.cid.take(),
                failure,
            },
            result,
        }
    }

    /// The `sn` attribute, else the common model's `SN`, else `lid`, else `d<index>`.
    fn device_id(&self) -> DeviceId {
        self.sn.as_ref().or(self.common_sn.as_ref()).or(self.lid.as_ref()).cloned().unwrap_or_else(|| {
            DeviceId::parse(&format!("d{}", self.index))
                .expect("\"d\" followed by a number is a valid device id")
        })
    }

    fn build(&mut self, gateway: &GatewayId, device: &DeviceId) -> Result<(Reading, Device), String> {
        if let Some(problem) = &self.problem {
            return Err(problem.clone());
        }
        let Some(ts) = self.ts else {
            return Err("<d> needs a t attribute (its timestamp)".to_owned());
        };
        self.candidates.sort_by_key(|c| (c.metric, c.precedence));
        let mut previous = None;
        for candidate in &self.candidates {
            if previous == Some(candidate.metric) {
                if !self.metrics.extra.contains_key(&*candidate.name) {
                    self.metrics
                        .insert_extra(&candidate.name, candidate.value, None)
                        .map_err(|e| e.to_string())?;
                }
            } else {
                self.metrics
                    .set(candidate.metric, candidate.value)
                    .map_err(|e| format!("{}: {e}", candidate.name))?;
                previous = Some(candidate.metric);
            }
        }
        if let Some(power) = self.module_power
            && self.metrics.get(Metric::DcPower).is_none()
        {
            self.metrics
                .set(Metric::DcPower, power)
                .map_err(|e| format!("sum of the MPPT modules' DCW: {e}"))?;
        }
        if self.metrics.is_empty() && self.status.is_none() {
            return Err("record has no values".to_owned());
        }
        // The record is done with its descriptions: the next one starts afresh.
        let pick =
            |own: &mut Option<String>, common: &mut Option<String>| own.take().or_else(|| common.take());
        let description = Device {
            gateway: gateway.clone(),
            id: device.clone(),
            kind: self.kind.map_or(DeviceKind::Other, |(_, kind)| kind),
            manufacturer: pick(&mut self.attributes.manufacturer, &mut self.common.manufacturer),
            model: pick(&mut self.attributes.model, &mut self.common.model),
            serial: pick(&mut self.attributes.serial, &mut self.common.serial),
            last_seen: Some(ts),
        };
        let reading = Reading {
            gateway: gateway.clone(),
            device: device.clone(),
            ts,
            status: self.status.take(),
            metrics: std::mem::take(&mut self.metrics),
        };
        Ok((reading, description))
    }

    fn quarantine_content(&self) -> String {
        let mut content = self.content.trim_end_matches("; ");
        if content.len() > MAX_CONTENT {
            let mut end = MAX_CONTENT;
            while !content.is_char_boundary(end) {
                end -= 1;
            }
            content = &content[..end];
        }
        content.to_owned()
    }
}

/// Calls `f` with each attribute's local name and unescaped value, in one pass over the tag.
/// An attribute given twice is refused (checked here for the first few names, which is all a
/// SunSpec element has, without the allocation quick-xml's own check makes per element).
fn each_attribute(
    element: &BytesStart<'_>,
    mut f: impl FnMut(&[u8], Cow<'_, str>),
) -> Result<(), ProtocolError> {
    let mut seen: [&[u8]; 8] = [&[]; 8];
    for (index, attr) in unchecked_attributes(element).enumerate() {
        let attr =
            attr.map_err(|e| ProtocolError::new(ErrorCode::Malformed, format!("bad attribute: {e}")))?;
        let key = attr.key.local_name().into_inner();
        if seen[..index.min(seen.len())].contains(&key) {
            return Err(duplicate(&String::from_utf8_lossy(key)));
        }
        if let Some(slot) = seen.get_mut(index) {
            *slot = key;
        }
        // Framing is intact whatever the value holds, so this refuses the document only.
        let value = attribute_value(&attr)
            .map_err(|e| ProtocolError::new(ErrorCode::Invalid, format!("bad attribute value: {e}")))?;
        f(key, value);
    }
    Ok(())
}

/// A value cut to [`MAX_TEXT`] characters, for echoing.
fn bounded(value: &str) -> String {
    if value.len() <= MAX_TEXT {
        return value.to_owned();
    }
    value.chars().take(MAX_TEXT).collect()
}

/// A description (manufacturer, model, serial): trimmed, printable, bounded; empty is none.
fn description(value: &str) -> Option<String> {
    let trimmed = value.trim();
    let text = if trimmed.len() <= MAX_TEXT && !trimmed.contains(char::is_control) {
        trimmed.to_owned()
    } else {
        trimmed.chars().filter(|c| !c.is_control()).take(MAX_TEXT).collect()
    };
    (!text.is_empty()).then_some(text)
}

fn set_once(slot: &mut Option<String>, value: &str) {
    if slot.is_none() {
        *slot = description(value);
    }
}

/// `St` as SunSpec's state number (1 = off … 8 = standby), or as the state's name (`MPPT`).
fn sunspec_status(text: &str) -> Option<DeviceStatus> {
    match text.parse::<f64>() {
        Ok(number) if number.fract() == 0.0 && (0.0..=f64::from(u16::MAX)).contains(&number) => {
            // In range and whole, so the conversion is exact.
            Some(DeviceStatus::from_sunspec(number as u16))
        }
        Ok(_) => None,
        Err(_) if text.is_empty() => None,
        Err(_) => Some(DeviceStatus::from_word(text)),
    }
}

/// A scale factor: a whole number within [`SCALE_FACTORS`] (`-2`, `2.0`).
fn parse_scale_factor(text: &str) -> Option<i32> {
    let number = text.trim().parse::<f64>().ok()?;
    let (low, high) = (*SCALE_FACTORS.start(), *SCALE_FACTORS.end());
    let whole = number.fract() == 0.0 && (f64::from(low)..=f64::from(high)).contains(&number);
    // Whole and within -10..=10, so the conversion is exact.
    whole.then_some(number as i32)
}

/// `number × 10^sf`, dividing for negative factors so that `3043 × 10^-2` is exactly `30.43`.
fn scale(number: f64, sf: i32) -> f64 {
    if sf < 0 { number / 10f64.powi(-sf) } else { number * 10f64.powi(sf) }
}
