//! One `<d>` record being assembled: its models' points scaled, mapped onto canonical metrics or
//! kept as extras, and finally turned into a reading and a device description, or a refusal.

use chrono::{DateTime, Utc};
use heliograph_shared::{
    Device, DeviceId, DeviceKind, DeviceStatus, GatewayId, Metric, Metrics, Reading, Unit, parse_value,
};
use quick_xml::events::BytesStart;

use super::description::{Described, Description, fill, fill_once};
use super::extras::Extras;
use super::model_tag::ModelTag;
use super::models::{Family, Role};
use super::point::{MAX_TEXT, Point, PointMeaning, bounded, each_attribute};
use crate::protocol::answer::RejectedReading;
use crate::protocol::error::{ErrorCode, ProtocolError};
use crate::protocol::known_ids::KnownIds;
use crate::protocol::tag_template::TagTemplate;
use crate::protocol::{ParseContext, ReadingsDocument, RecordOutcome};

/// Most `<p>` points, and most `<m>` models, one `<d>` record may carry (a full inverter with
/// every model has a few hundred points).
const MAX_PER_RECORD: usize = 4096;
/// Point slots made room for at once when a record needs more (models come a few per record).
const POINT_SLOTS: usize = 64;
const MODEL_SLOTS: usize = 4;
/// Longest re-serialised content kept for a quarantined record.
const MAX_CONTENT: usize = 1024;
/// Scale factors outside this range are refused: real models use -6..=6 or so.
const SCALE_FACTORS: std::ops::RangeInclusive<i32> = -10..=10;
/// The extra a reading carries when its record had no `t` and is dated when it was received.
pub(crate) const DATED_ON_RECEIPT: &str = "t_received";
/// The SunSpec code for a refused record.
const REFUSED: &str = "INVALID_MESSAGE";

/// A value competing for a canonical metric; the losers are kept as extras.
#[derive(Debug)]
struct Candidate {
    metric: Metric,
    /// (model position in the record, rank among the model's alternatives, repeat, point order).
    precedence: (usize, u8, u32, usize),
    value: f64,
    /// The point it came from, in the record's `points`: its name is the one it is kept under
    /// as an extra if it loses.
    point: usize,
}

/// One `<d>` record. Its buffers are reused from record to record, and so are its point slots:
/// the next record's same point finds its tag and meaning already read.
#[derive(Debug, Default)]
pub(super) struct Record {
    /// 1-based position in the document.
    index: usize,
    /// The `t` attribute as sent (bounded), and its parsed value when plausible.
    t: Option<String>,
    ts: Option<DateTime<Utc>>,
    cid: Option<String>,
    /// Device ids offered by the `sn`, `lid` and `id` attributes, when valid (one logger family
    /// names its devices with `id`).
    sn: Option<DeviceId>,
    lid: Option<DeviceId>,
    named: Option<DeviceId>,
    /// The record came without a `t`: its reading is dated when it was received, and says so.
    dated_on_receipt: bool,
    /// The serial number offered by the common model, when a valid device id.
    common_sn: Option<DeviceId>,
    attributes: Description,
    /// The `<d>` tag `sn`, `lid` and `attributes` were read from.
    tag: TagTemplate,
    common: Description,
    /// The first reason to refuse the record.
    problem: Option<String>,
    /// The record's points in document order; `used` slots hold this record's.
    points: Vec<Point>,
    used: usize,
    /// The record's `<m>` tags in document order; `models` slots hold this record's.
    model_tags: Vec<ModelTag>,
    models: usize,
    /// Where the current model's points start in `points`.
    model_start: usize,
    kind: Option<(u8, DeviceKind)>,
    candidates: Vec<Candidate>,
    extras: Extras,
    metrics: Metrics,
    status: Option<DeviceStatus>,
    module_power: Option<f64>,
    /// Changes whenever a point or model tag differs from its slot's previous one, or a point's
    /// meaning is worked out anew: what was derived from the record's points (their meanings
    /// and scale factors, the extras' order) stands while it does not.
    layout: u64,
    /// Scratch: indices of a model's `*_SF` points, sorted by id.
    scale_factors: Vec<usize>,
    /// Device ids already parsed in this document, shared by the records that name them again.
    known_ids: KnownIds,
}

impl Record {
    /// Starts the `index`th record from its `<d>` start tag.
    pub(super) fn open(
        &mut self,
        index: usize,
        element: &BytesStart<'_>,
        context: &ParseContext,
    ) -> Result<(), ProtocolError> {
        self.start(index);
        match self.tag.changes::<2>(element) {
            // The same device's tag again: its description and ids stand.
            Some([t, cid]) => {
                if let Some(t) = t {
                    self.read_t(t, context);
                }
                self.cid = cid.map(bounded);
            }
            None => {
                self.tag.forget();
                self.read_tag(element, context)?;
                self.tag.remember(element, [b"t", b"cid"]);
            }
        }
        if self.t.is_none() {
            // Loggers that keep no clock of their own send no `t`: the record is as old as its
            // upload, which is what the stored reading's `t_received` extra says.
            self.ts = Some(context.now);
            self.dated_on_receipt = true;
        }
        Ok(())
    }

    /// Reads every attribute of a `<d>` tag unlike the previous record's.
    fn read_tag(&mut self, element: &BytesStart<'_>, context: &ParseContext) -> Result<(), ProtocolError> {
        (self.sn, self.lid, self.named) = (None, None, None);
        self.attributes.clear();
        each_attribute(element, |key, value| match key {
            b"t" => self.read_t(&value, context),
            b"cid" => self.cid = Some(bounded(&value)),
            b"sn" => {
                self.sn = self.known_ids.parse(&value).ok();
                fill(&mut self.attributes.serial, &value);
            }
            b"lid" => self.lid = self.known_ids.parse(&value).ok(),
            b"id" => self.named = self.known_ids.parse(&value).ok(),
            b"man" => fill(&mut self.attributes.manufacturer, &value),
            b"mod" => fill(&mut self.attributes.model, &value),
            _ => {}
        })
    }

    /// Reads the `t` attribute: the record's timestamp, refused unless plausible.
    fn read_t(&mut self, value: &str, context: &ParseContext) {
        match context.timestamps.parse_logger_time(value, context.now) {
            Ok(ts) => self.ts = Some(ts),
            Err(e) => self.refuse(e.to_string()),
        }
        self.t = Some(bounded(value));
    }

    /// Forgets what was particular to the previous document, keeping the point and model slots
    /// and what was derived from their tags for the next document's records.
    pub(super) fn forget_document(&mut self) {
        self.known_ids = KnownIds::default();
    }

    /// Forgets the previous record, keeping its buffers and point slots. Every field is named,
    /// so that a new one cannot be forgotten here.
    fn start(&mut self, index: usize) {
        let Self {
            index: position,
            t,
            ts,
            cid,
            dated_on_receipt,
            // Read from the `<d>` tag, and kept while the next record's tag is the same.
            sn: _,
            lid: _,
            named: _,
            attributes: _,
            tag: _,
            common_sn,
            common,
            problem,
            points: _,
            used,
            model_tags: _,
            models,
            model_start,
            kind,
            candidates,
            extras,
            metrics,
            status,
            module_power,
            layout: _,
            scale_factors: _,
            known_ids: _,
        } = self;
        *position = index;
        (*t, *ts, *cid, *problem) = (None, None, None, None);
        *dated_on_receipt = false;
        *common_sn = None;
        common.clear();
        (*used, *models, *model_start) = (0, 0, 0);
        *kind = None;
        candidates.clear();
        extras.clear();
        *metrics = Metrics::default();
        (*status, *module_power) = (None, None);
    }

    /// Records why the record is refused, unless an earlier problem already did.
    pub(super) fn refuse(&mut self, reason: impl Into<String>) {
        if self.problem.is_none() {
            self.problem = Some(reason.into());
        }
    }

    /// Starts a `<m>` model from its start tag; its number, when valid.
    pub(super) fn open_model(&mut self, element: &BytesStart<'_>) -> Result<Option<u16>, ProtocolError> {
        self.model_start = self.used;
        let tag = next_slot(&mut self.model_tags, &mut self.models, ("models", MODEL_SLOTS))?;
        let (number, problem) = tag.open(element)?;
        let problem = problem.map(str::to_owned);
        if tag.changed {
            self.layout = self.layout.wrapping_add(1);
        }
        if let Some(problem) = problem {
            self.refuse(problem);
        }
        Ok(number)
    }

    /// Starts a `<p>` point of the current model from its start tag.
    pub(super) fn open_point(&mut self, element: &BytesStart<'_>) -> Result<(), ProtocolError> {
        let model = self.models.saturating_sub(1);
        let point = next_slot(&mut self.points, &mut self.used, ("points", POINT_SLOTS))?;
        let problem = point.open(element, model)?.map(str::to_owned);
        if point.changed {
            self.layout = self.layout.wrapping_add(1);
        }
        if let Some(problem) = problem {
            self.refuse(problem);
        }
        Ok(())
    }

    /// Adds a piece of the current point's text.
    pub(super) fn push_text(&mut self, text: &str) {
        if let Some(point) = self.used.checked_sub(1).and_then(|i| self.points.get_mut(i)) {
            point.push_text(text);
        }
    }

    /// Interprets the current model's points once it has closed (its `*_SF` points may come
    /// last).
    pub(super) fn close_model(&mut self, model: u16) {
        let family = Family::of(model);
        if let Some((rank, kind)) = family.device_kind()
            && self.kind.is_none_or(|(best, _)| rank < best)
        {
            self.kind = Some((rank, kind));
        }
        if self.problem.is_some() {
            return;
        }
        let mut points = std::mem::take(&mut self.points);
        let span = self.model_start..self.used.min(points.len());
        if let Err(reason) = self.add_model(model, family, &mut points[span]) {
            self.refuse(reason);
        }
        self.points = points;
    }

    fn add_model(&mut self, model: u16, family: Family, points: &mut [Point]) -> Result<(), String> {
        let position = self.models.saturating_sub(1);
        let span = self.model_start..self.model_start + points.len();
        let interpreted = Some((span.clone(), self.layout));
        if self.model_tags.get(position).is_none_or(|tag| tag.interpreted != interpreted) {
            for point in points.iter_mut() {
                if point.resolve(model) {
                    self.layout = self.layout.wrapping_add(1);
                }
            }
            find_scale_factors(points, &mut self.scale_factors);
            if let Some(tag) = self.model_tags.get_mut(position) {
                tag.interpreted = Some((span, self.layout));
            }
        }
        let points: &[Point] = points;
        for (order, point) in points.iter().enumerate() {
            if let Some(meaning) = point.meaning() {
                self.add_point(family, meaning, (position, order), point, points)?;
            }
        }
        Ok(())
    }

    /// Interprets one point of the current model (`points`, where it is the `order`th).
    fn add_point(
        &mut self,
        family: Family,
        meaning: &PointMeaning,
        (position, order): (usize, usize),
        point: &Point,
        points: &[Point],
    ) -> Result<(), String> {
        let name = meaning.name.as_str();
        if point.too_long {
            return Err(format!("value of {name} is longer than {MAX_TEXT} characters"));
        }
        let text = point.text.trim();
        match meaning.role {
            Role::Text | Role::ScaleFactor => {}
            Role::Manufacturer => fill_once(&mut self.common.manufacturer, text),
            Role::ModelName => fill_once(&mut self.common.model, text),
            Role::Serial => {
                fill_once(&mut self.common.serial, text);
                if self.common_sn.is_none() {
                    self.common_sn = self.known_ids.parse(text).ok();
                }
            }
            Role::Status => {
                let status = sunspec_status(text)
                    .ok_or_else(|| format!("{name} {text:?} is not a SunSpec operating state"))?;
                self.status.get_or_insert(status);
            }
            Role::Metric { metric, rank } => {
                let number = parse_value(name, text).map_err(|e| e.to_string())?;
                let scaled = self.scaled(number, point, meaning, points)?;
                let unit = point.unit.as_deref().and_then(|u| Unit::parse_for(u, metric.quantity()).ok());
                self.candidates.push(Candidate {
                    metric,
                    precedence: (position, rank, point.repeat.unwrap_or(0), order),
                    value: unit.map_or(scaled, |u| u.to_canonical(scaled)),
                    point: self.model_start + order,
                });
            }
            Role::ModulePower | Role::Extra => {
                let number = match parse_value(name, text) {
                    Ok(number) => number,
                    // Vendors' own text points are not measurements.
                    Err(_) if !family.defines_number(&point.id) => return Ok(()),
                    Err(e) => return Err(e.to_string()),
                };
                let scaled = self.scaled(number, point, meaning, points)?;
                let value = match point.unit.as_deref().map(Unit::parse) {
                    Some(Ok(unit)) => unit.to_canonical(scaled),
                    _ => scaled,
                };
                self.extras.push(self.model_start + order, value);
                if meaning.role == Role::ModulePower {
                    *self.module_power.get_or_insert(0.0) += value;
                }
            }
        }
        Ok(())
    }

    /// Applies the point's scale factor: its `sf` attribute, else its sibling `*_SF` point (the
    /// one its meaning names).
    fn scaled(
        &self,
        number: f64,
        point: &Point,
        meaning: &PointMeaning,
        points: &[Point],
    ) -> Result<f64, String> {
        let (name, sibling) = (meaning.name.as_str(), &*meaning.scale_factor);
        let (source, text) = match &point.sf {
            Some(sf) => ("sf", sf.as_str()),
            None => match point.scale_factor.and_then(|at| points.get(at)) {
                Some(found) => (sibling, found.text.trim()),
                None => return Ok(number),
            },
        };
        let sf = parse_scale_factor(text).ok_or_else(|| {
            format!(
                "scale factor {source}={text:?} of {name} is not a whole number from {} to {}",
                SCALE_FACTORS.start(),
                SCALE_FACTORS.end()
            )
        })?;
        Ok(scale(number, sf))
    }

    /// Ends the record: picks the canonical metrics, and adds its outcome to the document with
    /// the reading (describing its device) or the refusal.
    pub(super) fn close(&mut self, gateway: &GatewayId, document: &mut ReadingsDocument) {
        let device = self.device_id();
        let failure = match self.build(gateway, &device, &mut document.devices) {
            Ok(reading) => {
                document.readings.push(reading);
                None
            }
            Err(reason) => {
                let failure = (REFUSED, reason.clone());
                document.rejected.push(RejectedReading {
                    device: device.as_str().to_owned(),
                    ts: self.t.clone().unwrap_or_default(),
                    reason,
                    content: self.quarantine_content(),
                });
                Some(failure)
            }
        };
        document.records.push(RecordOutcome {
            index: self.index,
            // The record is done with them: the next one starts afresh.
            t: self.t.take().unwrap_or_default(),
            cid: self.cid.take(),
            failure,
        });
    }

    /// The `sn` attribute, else the common model's `SN`, else `lid`, else `id`, else `d<index>`.
    fn device_id(&self) -> DeviceId {
        let offered =
            self.sn.as_ref().or(self.common_sn.as_ref()).or(self.lid.as_ref()).or(self.named.as_ref());
        offered.cloned().unwrap_or_else(|| {
            DeviceId::parse(&format!("d{}", self.index))
                .expect("\"d\" followed by a number is a valid device id")
        })
    }

    fn build(
        &mut self,
        gateway: &GatewayId,
        device: &DeviceId,
        devices: &mut Vec<Device>,
    ) -> Result<Reading, String> {
        if let Some(problem) = &self.problem {
            return Err(problem.clone());
        }
        let Some(ts) = self.ts else {
            return Err("<d> needs a t attribute (its timestamp)".to_owned());
        };
        self.choose_metrics()?;
        if let Some(power) = self.module_power
            && self.metrics.get(Metric::DcPower).is_none()
        {
            self.metrics
                .set(Metric::DcPower, power)
                .map_err(|e| format!("sum of the MPPT modules' DCW: {e}"))?;
        }
        self.extras.collect(&self.points, self.layout, &mut self.metrics)?;
        if self.metrics.is_empty() && self.status.is_none() {
            return Err("record has no values".to_owned());
        }
        if self.dated_on_receipt {
            self.metrics.insert_extra(DATED_ON_RECEIPT, 1.0, None).map_err(|e| e.to_string())?;
        }
        Described {
            gateway,
            id: device,
            kind: self.kind.map_or(DeviceKind::Other, |(_, kind)| kind),
            own: &self.attributes,
            common: &self.common,
            ts,
        }
        .add_to(devices);
        Ok(Reading {
            gateway: gateway.clone(),
            device: device.clone(),
            ts,
            status: self.status.take(),
            metrics: std::mem::take(&mut self.metrics),
        })
    }

    /// Sets the canonical metrics from their candidates: of several for one metric, the one of
    /// highest precedence, the others kept as extras.
    fn choose_metrics(&mut self) -> Result<(), String> {
        // Nearly always each metric has one candidate, and then the order they are set in does
        // not matter (a failure is reported below, in the order it would be there).
        let (candidates, metrics) = (&self.candidates, &mut self.metrics);
        let unique = candidates.iter().all(|candidate| {
            metrics.get(candidate.metric).is_none() && metrics.set(candidate.metric, candidate.value).is_ok()
        });
        if unique {
            return Ok(());
        }
        *metrics = Metrics::default();
        self.candidates.sort_by_key(|c| (c.metric, c.precedence));
        let mut previous = None;
        for candidate in &self.candidates {
            let name = self.points.get(candidate.point).and_then(Point::meaning).map_or("", |m| &m.name);
            if previous == Some(candidate.metric) {
                self.extras.push(candidate.point, candidate.value);
            } else {
                self.metrics.set(candidate.metric, candidate.value).map_err(|e| format!("{name}: {e}"))?;
                previous = Some(candidate.metric);
            }
        }
        Ok(())
    }

    /// The record's points as sent, compactly (`101.W=6701.3 sf=-1 Watts; 101.St=4`), bounded.
    fn quarantine_content(&self) -> String {
        let mut content = String::new();
        for point in &self.points[..self.used.min(self.points.len())] {
            if content.len() >= MAX_CONTENT {
                break;
            }
            if !content.is_empty() {
                content.push_str("; ");
            }
            let label = self.model_tags.get(point.model).map_or("?", |tag| tag.label.as_str());
            point.write_content(&mut content, label);
        }
        if content.len() > MAX_CONTENT {
            let mut end = MAX_CONTENT;
            while !content.is_char_boundary(end) {
                end -= 1;
            }
            content.truncate(end);
        }
        content
    }
}

/// Finds, for each of a model's (resolved) points, the point whose value scales it: the one
/// its meaning names, the first of them if duplicated. `sorted` is scratch space.
fn find_scale_factors(points: &mut [Point], sorted: &mut Vec<usize>) {
    sorted.clear();
    sorted.extend((0..points.len()).filter(|&i| points[i].id.ends_with("_SF")));
    // Stable: the first of duplicated scale factors is found first.
    sorted.sort_by(|&a, &b| points[a].id.cmp(&points[b].id));
    for index in 0..points.len() {
        let found = points[index].meaning().and_then(|meaning| {
            let name = &*meaning.scale_factor;
            let at = sorted.partition_point(|&i| points[i].id.as_str() < name);
            sorted.get(at).copied().filter(|&i| points[i].id == name)
        });
        points[index].scale_factor = found;
    }
}

/// The slot after the `used` ones a record fills, created the first time and kept from record to
/// record, `room` more at a time; past [`MAX_PER_RECORD`] of `what`, the document is refused.
fn next_slot<'a, T: Default>(
    slots: &'a mut Vec<T>,
    used: &mut usize,
    (what, room): (&str, usize),
) -> Result<&'a mut T, ProtocolError> {
    if *used == MAX_PER_RECORD {
        return Err(ProtocolError::new(
            ErrorCode::TooManyReadings,
            format!("more than {MAX_PER_RECORD} {what} in one <d> record; split it"),
        ));
    }
    if *used == slots.len() {
        // A record's points come in dozens: grown in one step, not by doubling, each regrowth
        // moving every slot.
        slots.reserve(room);
        slots.push(T::default());
    }
    let slot = &mut slots[*used];
    *used += 1;
    Ok(slot)
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
    let text = text.trim();
    // Nearly every scale factor is written as an integer, which needs no float parsing.
    if let Ok(whole) = text.parse::<i32>() {
        return SCALE_FACTORS.contains(&whole).then_some(whole);
    }
    let number = text.parse::<f64>().ok()?;
    let (low, high) = (*SCALE_FACTORS.start(), *SCALE_FACTORS.end());
    let whole = number.fract() == 0.0 && (f64::from(low)..=f64::from(high)).contains(&number);
    // Whole and within -10..=10, so the conversion is exact.
    whole.then_some(number as i32)
}

/// `number × 10^sf`, dividing for negative factors so that `3043 × 10^-2` is exactly `30.43`.
fn scale(number: f64, sf: i32) -> f64 {
    if sf < 0 { number / 10f64.powi(-sf) } else { number * 10f64.powi(sf) }
}
