//! Heliograph's native documents:
//!
//! ```xml
//! <hello gateway="GW-0001" token="…"/>
//! <batch gateway="GW-0001" seq="42" token="…">
//!   <reading device="inv-1" kind="inverter" ts="2026-11-22T10:00:00Z">
//!     <ac_power unit="W">1234.5</ac_power><energy unit="kWh">9876.54</energy>
//!     <status>producing</status>
//!   </reading>
//! </batch>
//! ```

use heliograph_shared::{
    Device, DeviceId, DeviceKind, DeviceStatus, GatewayId, GatewayToken, Metric, MetricError, Metrics,
    Reading, Unit, parse_value,
};

use super::answer::RejectedReading;
use super::document::FormatParser;
use super::error::{ErrorCode, ProtocolError};
use super::xml::{XmlEvent, attribute, duplicate, local_name, unchecked_attributes};
use super::{Credentials, Document, Format, ParseContext, ReadingsDocument, effective_gateway};

/// Longest text accepted for one value (numbers and status words are short).
const MAX_VALUE_TEXT: usize = 64;
/// Longest re-serialised content kept for a quarantined reading.
const MAX_QUARANTINE_CONTENT: usize = 1024;

fn invalid(reason: impl Into<String>) -> ProtocolError {
    ProtocolError::new(ErrorCode::Invalid, reason)
}

fn required<'a>(
    element: &'a quick_xml::events::BytesStart<'_>,
    name: &str,
    of: &str,
) -> Result<std::borrow::Cow<'a, str>, ProtocolError> {
    attribute(element, name)?.ok_or_else(|| invalid(format!("<{of}> needs a {name} attribute")))
}

/// Parses `<hello gateway=".." token=".."/>`.
#[derive(Default)]
pub(crate) struct HelloParser {
    credentials: Option<Credentials>,
    depth: usize,
}

impl FormatParser for HelloParser {
    fn format(&self) -> Format {
        Format::Native
    }

    fn event(&mut self, event: XmlEvent<'_>, _context: &ParseContext) -> Result<(), ProtocolError> {
        match event {
            XmlEvent::Start(element) => {
                self.depth += 1;
                if self.depth > 1 {
                    return Err(invalid("<hello> takes no child elements"));
                }
                let gateway = GatewayId::parse(&required(element, "gateway", "hello")?)
                    .map_err(|e| invalid(e.to_string()))?;
                let token = GatewayToken::from_presented(&required(element, "token", "hello")?);
                self.credentials = Some(Credentials { gateway, token: Some(token) });
            }
            XmlEvent::End => self.depth -= 1,
            XmlEvent::Text(text) if text.trim().is_empty() => {}
            XmlEvent::Text(_) => return Err(invalid("<hello> takes no text")),
        }
        Ok(())
    }

    fn finish(self: Box<Self>, _context: &ParseContext) -> Result<Document, ProtocolError> {
        self.credentials.map(Document::Hello).ok_or_else(|| invalid("empty <hello>"))
    }
}

/// One `<reading>` being assembled; its buffers are reused from reading to reading.
#[derive(Default)]
struct PendingReading {
    device: String,
    ts: String,
    kind: Option<String>,
    metrics: Metrics,
    status: Option<DeviceStatus>,
    /// The first problem found; the reading is quarantined with it.
    problem: Option<String>,
    /// The reading as sent, compactly, for the quarantine.
    content: String,
}

/// One metric element being read; its buffers are reused from value to value.
#[derive(Default)]
struct PendingValue {
    name: String,
    unit: String,
    has_unit: bool,
    text: String,
    too_long: bool,
}

impl PendingValue {
    fn unit(&self) -> Option<&str> {
        self.has_unit.then_some(self.unit.as_str())
    }
}

/// Parses `<batch>` documents.
#[derive(Default)]
pub(crate) struct BatchParser {
    depth: usize,
    document: Option<ReadingsDocument>,
    gateway: Option<GatewayId>,
    reading: PendingReading,
    value: PendingValue,
    count: usize,
    seq: Option<u64>,
    names: NameCache,
}

/// What a metric element's name and unit stand for.
#[derive(Clone, Copy)]
enum Resolved {
    /// A canonical metric, with the unit to convert from (none: already canonical).
    Canonical(Metric, Option<Unit>),
    /// Kept as an extra under its own name.
    Extra,
}

/// Resolves (name, unit) pairs once per document: a gateway repeats the same few for every
/// reading, and looking them up again each time was the parser's largest cost.
#[derive(Default)]
struct NameCache {
    entries: Vec<(String, Option<String>, Result<Resolved, MetricError>)>,
}

impl NameCache {
    const CAPACITY: usize = 64;

    fn resolve(&mut self, name: &str, unit: Option<&str>) -> Result<Resolved, MetricError> {
        if let Some((_, _, resolved)) =
            self.entries.iter().find(|(n, u, _)| n == name && u.as_deref() == unit)
        {
            return resolved.clone();
        }
        let resolved = match Metric::from_name(name) {
            Some(metric) => match unit {
                None | Some("") => Ok(Resolved::Canonical(metric, None)),
                Some(spelling) => Unit::parse_for(spelling, metric.quantity())
                    .map(|unit| Resolved::Canonical(metric, Some(unit)))
                    .map_err(|source| MetricError::Unit { metric: metric.name().to_owned(), source }),
            },
            None => Ok(Resolved::Extra),
        };
        if self.entries.len() < Self::CAPACITY {
            self.entries.push((name.to_owned(), unit.map(str::to_owned), resolved.clone()));
        }
        resolved
    }
}

impl BatchParser {
    fn open_batch(
        &mut self,
        element: &quick_xml::events::BytesStart<'_>,
        context: &ParseContext,
    ) -> Result<(), ProtocolError> {
        let seq = attribute(element, "seq")?
            .map(|s| s.trim().parse::<u64>().map_err(|_| invalid(format!("seq {s:?} is not a whole number"))))
            .transpose()?;
        self.seq = seq;
        let own = attribute(element, "gateway")?
            .map(|g| GatewayId::parse(&g).map_err(|e| invalid(e.to_string())))
            .transpose()?;
        let token = attribute(element, "token")?.map(|t| GatewayToken::from_presented(&t));
        let credentials = own.clone().map(|gateway| Credentials { gateway, token });
        self.document = Some(ReadingsDocument {
            format: Format::Native,
            seq,
            credentials,
            readings: Vec::new(),
            rejected: Vec::new(),
            devices: Vec::new(),
            records: Vec::new(),
        });
        self.gateway = Some(effective_gateway(own.as_ref(), context.session_gateway.as_ref())?);
        Ok(())
    }

    fn open_reading(
        &mut self,
        element: &quick_xml::events::BytesStart<'_>,
        context: &ParseContext,
    ) -> Result<(), ProtocolError> {
        self.count += 1;
        if self.count > context.max_readings {
            return Err(ProtocolError::new(
                ErrorCode::TooManyReadings,
                format!("more than {} readings in one document; split it", context.max_readings),
            ));
        }
        let reading = &mut self.reading;
        reading.device.clear();
        reading.ts.clear();
        reading.kind = None;
        reading.metrics = Metrics::default();
        reading.status = None;
        reading.problem = None;
        reading.content.clear();
        let (mut has_device, mut has_ts) = (false, false);
        for attr in unchecked_attributes(element) {
            let attr =
                attr.map_err(|e| ProtocolError::new(ErrorCode::Malformed, format!("bad attribute: {e}")))?;
            let value = attr
                .unescape_value()
                .map_err(|e| ProtocolError::new(ErrorCode::Invalid, format!("bad attribute value: {e}")))?;
            match attr.key.local_name().as_ref() {
                b"device" if has_device => return Err(duplicate("device")),
                b"device" => {
                    has_device = true;
                    reading.device.push_str(&value);
                }
                b"ts" if has_ts => return Err(duplicate("ts")),
                b"ts" => {
                    has_ts = true;
                    reading.ts.push_str(&value);
                }
                b"kind" if reading.kind.is_some() => return Err(duplicate("kind")),
                b"kind" => reading.kind = Some(value.into_owned()),
                _ => {}
            }
        }
        if !has_device {
            reading.problem = Some("<reading> needs a device attribute".to_owned());
        } else if !has_ts {
            reading.problem = Some("<reading> needs a ts attribute".to_owned());
        }
        Ok(())
    }

    fn close_value(&mut self) {
        let (value, reading) = (&self.value, &mut self.reading);
        if reading.content.len() < MAX_QUARANTINE_CONTENT {
            reading.content.push_str(&value.name);
            reading.content.push('=');
            reading.content.push_str(value.text.trim());
            if let Some(unit) = value.unit() {
                reading.content.push(' ');
                reading.content.push_str(unit);
            }
            reading.content.push_str("; ");
        }
        if reading.problem.is_some() {
            return;
        }
        if value.too_long {
            reading.problem =
                Some(format!("value of {} is longer than {MAX_VALUE_TEXT} characters", value.name));
            return;
        }
        if value.name == "status" {
            reading.status = Some(DeviceStatus::from_word(&value.text));
            return;
        }
        let outcome = parse_value(&value.name, &value.text).and_then(|number| {
            match self.names.resolve(&value.name, value.unit())? {
                Resolved::Canonical(metric, unit) => {
                    reading.metrics.set(metric, unit.map_or(number, |u| u.to_canonical(number)))
                }
                Resolved::Extra => reading.metrics.insert_extra(&value.name, number, value.unit()),
            }
        });
        if let Err(e) = outcome {
            reading.problem = Some(e.to_string());
        }
    }

    fn close_reading(&mut self, context: &ParseContext) {
        let (pending, Some(document), Some(gateway)) =
            (&mut self.reading, self.document.as_mut(), self.gateway.as_ref())
        else {
            return;
        };
        match build_reading(pending, gateway, context) {
            Ok((reading, device)) => {
                if let Some(device) = device
                    && !document.devices.iter().any(|d| d.id == device.id)
                {
                    document.devices.push(device);
                }
                document.readings.push(reading);
            }
            Err(reason) => document.rejected.push(RejectedReading {
                device: pending.device.chars().take(64).collect(),
                ts: pending.ts.chars().take(40).collect(),
                reason,
                content: pending.content.trim_end_matches("; ").to_owned(),
            }),
        }
    }
}

fn build_reading(
    pending: &mut PendingReading,
    gateway: &GatewayId,
    context: &ParseContext,
) -> Result<(Reading, Option<Device>), String> {
    if let Some(problem) = &pending.problem {
        return Err(problem.clone());
    }
    let device = DeviceId::parse(&pending.device).map_err(|e| e.to_string())?;
    let ts = context.timestamps.parse(&pending.ts, context.now).map_err(|e| e.to_string())?;
    if pending.metrics.is_empty() && pending.status.is_none() {
        return Err("reading has no values".to_owned());
    }
    let description = pending.kind.as_ref().map(|kind| Device {
        gateway: gateway.clone(),
        id: device.clone(),
        kind: DeviceKind::from_word(kind),
        manufacturer: None,
        model: None,
        serial: None,
        last_seen: Some(ts),
    });
    let reading = Reading {
        gateway: gateway.clone(),
        device,
        ts,
        status: pending.status.take(),
        metrics: std::mem::take(&mut pending.metrics),
    };
    Ok((reading, description))
}

impl FormatParser for BatchParser {
    fn format(&self) -> Format {
        Format::Native
    }

    fn seq(&self) -> Option<u64> {
        self.seq
    }

    fn event(&mut self, event: XmlEvent<'_>, context: &ParseContext) -> Result<(), ProtocolError> {
        match event {
            XmlEvent::Start(element) => {
                self.depth += 1;
                match self.depth {
                    1 => self.open_batch(element, context)?,
                    2 => {
                        let name = local_name(element)?;
                        if name != "reading" {
                            return Err(invalid(format!(
                                "unexpected <{}> in <batch>: only <reading> elements",
                                name.chars().take(40).collect::<String>()
                            )));
                        }
                        self.open_reading(element, context)?;
                    }
                    3 => {
                        let value = &mut self.value;
                        value.name.clear();
                        value.name.push_str(&local_name(element)?);
                        value.unit.clear();
                        value.has_unit = false;
                        value.text.clear();
                        value.too_long = false;
                        if let Some(unit) = attribute(element, "unit")? {
                            value.unit.push_str(&unit);
                            value.has_unit = true;
                        }
                    }
                    _ => return Err(invalid("metric elements take no child elements")),
                }
            }
            XmlEvent::Text(text) => match self.depth {
                3 => {
                    let value = &mut self.value;
                    if value.text.len() + text.len() > MAX_VALUE_TEXT {
                        value.too_long = true;
                    } else {
                        value.text.push_str(text);
                    }
                }
                _ if text.trim().is_empty() => {}
                _ => return Err(invalid("unexpected text outside a metric element")),
            },
            XmlEvent::End => {
                match self.depth {
                    3 => self.close_value(),
                    2 => self.close_reading(context),
                    _ => {}
                }
                self.depth -= 1;
            }
        }
        Ok(())
    }

    fn finish(self: Box<Self>, _context: &ParseContext) -> Result<Document, ProtocolError> {
        self.document.map(Document::Readings).ok_or_else(|| invalid("empty <batch>"))
    }
}
