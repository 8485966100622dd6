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
    Device, DeviceKind, DeviceStatus, GatewayId, GatewayToken, Metric, MetricError, Metrics, Reading, Unit,
    parse_value,
};

use super::answer::RejectedReading;
use super::document::FormatParser;
use super::error::{ErrorCode, ProtocolError};
use super::known_ids::KnownIds;
use super::tag_template::TagTemplate;
use super::xml::{XmlEvent, attribute, attribute_value, duplicate, local_name, unchecked_attributes};
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

    fn finish(self, _context: &ParseContext) -> Result<Document, ProtocolError> {
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
    /// The texts of the reading's values as sent, one after the other.
    texts: String,
    /// The reading's values, the last one being read. The reading as sent is written out from
    /// these only if it is quarantined.
    values: Vec<PendingValue>,
}

impl PendingReading {
    /// The text of the value being read.
    fn text(&self) -> &str {
        self.values.last().map_or("", |value| &self.texts[value.start..])
    }

    /// The reading as sent, compactly (`name=value unit; …`), for the quarantine.
    fn content(&self, tags: &TagCache) -> String {
        let mut content = String::new();
        for (i, &PendingValue { tag, start, .. }) in self.values.iter().enumerate() {
            if content.len() >= MAX_QUARANTINE_CONTENT {
                break;
            }
            let end = self.values.get(i + 1).map_or(self.texts.len(), |next| next.start);
            let tag = tags.get(tag);
            content.push_str(&tag.name);
            content.push('=');
            content.push_str(self.texts[start..end].trim());
            if let Some(unit) = &tag.unit {
                content.push(' ');
                content.push_str(unit);
            }
            content.push_str("; ");
        }
        content.truncate(content.trim_end_matches("; ").len());
        content
    }
}

/// One metric element of a reading.
#[derive(Clone, Copy)]
struct PendingValue {
    /// Its tag, in the [`TagCache`].
    tag: usize,
    /// Where its text starts in the reading's `texts`.
    start: usize,
    /// Its text was longer than [`MAX_VALUE_TEXT`].
    too_long: bool,
}

/// Parses `<batch>` documents.
#[derive(Default)]
pub(crate) struct BatchParser {
    depth: usize,
    document: Option<ReadingsDocument>,
    gateway: Option<GatewayId>,
    reading: PendingReading,
    count: usize,
    seq: Option<u64>,
    tags: TagCache,
    /// The `<reading>` tag the reading's `device` and `kind` were read from, and why that tag
    /// refuses its reading, if it does: the next reading's tag usually differs only in `ts`.
    reading_tag: TagTemplate,
    reading_tag_problem: Option<&'static str>,
    /// The devices the document has named so far.
    devices: KnownIds,
}

/// What a metric element's name and unit stand for.
#[derive(Clone)]
enum Meaning {
    /// The device's operating state, as a word.
    Status,
    /// A canonical metric, with the unit to convert from (none: already canonical).
    Canonical(Metric, Option<Unit>),
    /// Kept as an extra under its own name.
    Extra,
    /// A canonical metric in a unit that does not measure it.
    Refused(MetricError),
}

/// A metric element's start tag, read and resolved.
struct MetricTag {
    /// The tag as sent (name and attributes), which is what the cache compares.
    raw: Vec<u8>,
    name: String,
    unit: Option<String>,
    meaning: Meaning,
}

impl MetricTag {
    // Once per distinct tag: out of line, away from the per-event path.
    #[cold]
    #[inline(never)]
    fn read(element: &quick_xml::events::BytesStart<'_>) -> Result<Self, ProtocolError> {
        let name = local_name(element)?.into_owned();
        let unit = attribute(element, "unit")?.map(std::borrow::Cow::into_owned);
        let meaning = if name == "status" {
            Meaning::Status
        } else {
            match Metric::from_name(&name) {
                Some(metric) => match unit.as_deref() {
                    None | Some("") => Meaning::Canonical(metric, None),
                    Some(spelling) => match Unit::parse_for(spelling, metric.quantity()) {
                        Ok(unit) => Meaning::Canonical(metric, Some(unit)),
                        Err(source) => {
                            Meaning::Refused(MetricError::Unit { metric: metric.name().to_owned(), source })
                        }
                    },
                },
                None => Meaning::Extra,
            }
        };
        Ok(Self { raw: element.to_vec(), name, unit, meaning })
    }
}

/// Metric tags read once per document. A gateway repeats the same few start tags, byte for
/// byte and in the same order, in every reading; comparing the bytes with a tag already read
/// replaces reading its name and attributes again, which was most of the parser's own cost.
#[derive(Default)]
struct TagCache {
    tags: Vec<MetricTag>,
    /// Tags read once the cache is full, kept for the current reading only.
    overflow: Vec<MetricTag>,
    /// Where the next tag is expected: the one after the last.
    next: usize,
}

impl TagCache {
    /// Tags kept for the whole document.
    const CAPACITY: usize = 64;

    /// A new reading starts: the previous one's overflow tags are no longer needed.
    fn start_reading(&mut self) {
        self.overflow.clear();
    }

    /// A tag found by [`Self::lookup`] during the current reading.
    fn get(&self, index: usize) -> &MetricTag {
        match index.checked_sub(Self::CAPACITY) {
            Some(overflow) => &self.overflow[overflow],
            None => &self.tags[index],
        }
    }

    /// The index of `element`'s tag, read now if it is new.
    fn lookup(&mut self, element: &quick_xml::events::BytesStart<'_>) -> Result<usize, ProtocolError> {
        let raw: &[u8] = element;
        let index = if self.tags.get(self.next).is_some_and(|tag| tag.raw == raw) {
            self.next
        } else if let Some(index) = self.tags.iter().position(|tag| tag.raw == raw) {
            index
        } else {
            let tag = MetricTag::read(element)?;
            if self.tags.len() < Self::CAPACITY {
                self.tags.push(tag);
                self.tags.len() - 1
            } else {
                self.overflow.push(tag);
                Self::CAPACITY + self.overflow.len() - 1
            }
        };
        self.next = index + 1;
        Ok(index)
    }
}

impl BatchParser {
    // Once per reading or document: kept out of line so that `event`, run for every XML
    // event, keeps a small stack frame.
    #[inline(never)]
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
        reading.metrics = Metrics::default();
        reading.status = None;
        reading.texts.clear();
        reading.values.clear();
        self.tags.start_reading();
        // The same device's tag again: its `device` and `kind` stand.
        if let Some([ts]) = self.reading_tag.changes::<1>(element) {
            reading.ts.clear();
            reading.ts.push_str(ts.unwrap_or_default());
            reading.problem = self.reading_tag_problem.map(str::to_owned);
            return Ok(());
        }
        self.reading_tag.forget();
        self.reading_tag_problem = Self::read_reading_tag(reading, element)?;
        self.reading_tag.remember(element, [b"ts"]);
        reading.problem = self.reading_tag_problem.map(str::to_owned);
        Ok(())
    }

    /// Reads every attribute of a `<reading>` tag unlike the previous reading's; what refuses
    /// the reading, if anything does.
    fn read_reading_tag(
        reading: &mut PendingReading,
        element: &quick_xml::events::BytesStart<'_>,
    ) -> Result<Option<&'static str>, ProtocolError> {
        reading.device.clear();
        reading.ts.clear();
        reading.kind = None;
        let (mut has_device, mut has_ts) = (false, false);
        for attr in unchecked_attributes(element) {
            let attr =
                attr.map_err(|e| ProtocolError::new(ErrorCode::Malformed, format!("bad attribute: {e}")))?;
            let value = attribute_value(&attr)
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
        Ok(if !has_device {
            Some("<reading> needs a device attribute")
        } else if !has_ts {
            Some("<reading> needs a ts attribute")
        } else {
            None
        })
    }

    fn close_value(&mut self) {
        let reading = &mut self.reading;
        let Some(&value) = reading.values.last() else { return };
        let tag = self.tags.get(value.tag);
        if reading.problem.is_some() {
            return;
        }
        if value.too_long {
            reading.problem =
                Some(format!("value of {} is longer than {MAX_VALUE_TEXT} characters", tag.name));
            return;
        }
        let number = || parse_value(&tag.name, reading.text());
        let outcome = match &tag.meaning {
            Meaning::Status => {
                reading.status = Some(DeviceStatus::from_word(reading.text()));
                Ok(())
            }
            Meaning::Canonical(metric, unit) => {
                number().and_then(|n| reading.metrics.set(*metric, unit.map_or(n, |u| u.to_canonical(n))))
            }
            Meaning::Extra => {
                number().and_then(|n| reading.metrics.insert_extra(&tag.name, n, tag.unit.as_deref()))
            }
            // The number is read first, so that a bad number is what a reading is refused for.
            Meaning::Refused(error) => number().and_then(|_| Err(error.clone())),
        };
        if let Err(e) = outcome {
            reading.problem = Some(e.to_string());
        }
    }

    // Once per reading or document: kept out of line so that `event`, run for every XML
    // event, keeps a small stack frame.
    #[inline(never)]
    fn close_reading(&mut self, context: &ParseContext) {
        let (pending, Some(document), Some(gateway)) =
            (&mut self.reading, self.document.as_mut(), self.gateway.as_ref())
        else {
            return;
        };
        match build_reading(pending, gateway, &mut self.devices, context) {
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
                content: pending.content(&self.tags),
            }),
        }
    }
}

fn build_reading(
    pending: &mut PendingReading,
    gateway: &GatewayId,
    devices: &mut KnownIds,
    context: &ParseContext,
) -> Result<(Reading, Option<Device>), String> {
    if let Some(problem) = &pending.problem {
        return Err(problem.clone());
    }
    let device = devices.parse(&pending.device).map_err(|e| e.to_string())?;
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

    #[inline]
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
                        let tag = self.tags.lookup(element)?;
                        let start = self.reading.texts.len();
                        self.reading.values.push(PendingValue { tag, start, too_long: false });
                    }
                    _ => return Err(invalid("metric elements take no child elements")),
                }
            }
            XmlEvent::Text(text) => match self.depth {
                3 => {
                    if self.reading.text().len() + text.len() > MAX_VALUE_TEXT {
                        if let Some(value) = self.reading.values.last_mut() {
                            value.too_long = true;
                        }
                    } else {
                        self.reading.texts.push_str(text);
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

    fn finish(self, _context: &ParseContext) -> Result<Document, ProtocolError> {
        self.document.map(Document::Readings).ok_or_else(|| invalid("empty <batch>"))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use heliograph_shared::{DeviceStatus, GatewayId, Metric, TimestampPolicy};

    use crate::protocol::{Document, ParseContext, ReadingsDocument, parse_document};

    fn parse(xml: &str) -> ReadingsDocument {
        let context = ParseContext {
            now: Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).single().expect("valid date"),
            timestamps: TimestampPolicy::default(),
            max_readings: 1000,
            session_gateway: Some(GatewayId::parse("GW-1").expect("valid gateway id")),
        };
        match parse_document(xml.as_bytes(), context, 16).0 {
            Ok(Document::Readings(document)) => document,
            other => panic!("not a readings document: {other:?}"),
        }
    }

    fn batch(readings: &[String]) -> String {
        format!("<batch gateway=\"GW-1\" seq=\"1\">{}</batch>", readings.concat())
    }

    fn reading(minute: u32, values: &str) -> String {
        format!("<reading device=\"inv-1\" ts=\"2026-11-30T10:{minute:02}:00Z\">{values}</reading>")
    }

    #[test]
    fn a_reading_tag_like_the_previous_one_but_for_ts_keeps_its_device_and_kind() {
        // A `<reading>` tag is read in full only when it differs from the previous one in more
        // than its `ts`; here the device, the kind and a missing `ts` come and go.
        let value = "<ac_power unit=\"W\">1</ac_power>";
        let document = parse(&batch(&[
            format!(
                "<reading device=\"inv-1\" kind=\"inverter\" ts=\"2026-11-30T10:00:00Z\">{value}</reading>"
            ),
            format!(
                "<reading device=\"inv-1\" kind=\"inverter\" ts=\"2026-11-30T10:01:00Z\">{value}</reading>"
            ),
            format!("<reading device=\"meter-1\" ts=\"2026-11-30T10:01:00Z\">{value}</reading>"),
            format!("<reading device=\"meter-1\">{value}</reading>"),
            format!("<reading device=\"meter-1\">{value}</reading>"),
            format!("<reading device=\"meter-1\" ts=\"2026-11-30T10:02:00Z\">{value}</reading>"),
        ]));
        let stored: Vec<(&str, String)> =
            document.readings.iter().map(|r| (r.device.as_str(), r.ts.format("%H:%M").to_string())).collect();
        assert_eq!(
            stored,
            [
                ("inv-1", "10:00".into()),
                ("inv-1", "10:01".into()),
                ("meter-1", "10:01".into()),
                ("meter-1", "10:02".into())
            ]
        );
        let refused: Vec<(&str, &str)> =
            document.rejected.iter().map(|r| (r.device.as_str(), r.reason.as_str())).collect();
        assert_eq!(refused, [("meter-1", "<reading> needs a ts attribute"); 2]);
        let described: Vec<_> = document.devices.iter().map(|d| (d.id.as_str(), d.kind)).collect();
        assert_eq!(described, [("inv-1", heliograph_shared::DeviceKind::Inverter)]);
    }

    #[test]
    fn tags_repeated_in_every_reading_mean_the_same_each_time_and_new_ones_are_read() {
        let document = batch(&[
            reading(
                0,
                "<ac_power unit=\"kW\">1.5</ac_power><riso unit=\"kohm\">40</riso><status>MPPT</status>",
            ),
            // The same tags in another order, one spelled differently (a unit in W), one new.
            reading(
                1,
                "<status>fault</status><ac_power unit=\"W\">1600</ac_power><riso unit=\"kohm\">41</riso>\
                 <energy unit='kWh'>2</energy>",
            ),
            reading(2, "<ac_power unit=\"kW\">1.7</ac_power><riso unit=\"kohm\">42</riso>"),
        ]);
        let parsed = parse(&document);
        assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
        let power: Vec<_> = parsed.readings.iter().map(|r| r.metrics.get(Metric::AcPower)).collect();
        assert_eq!(power, [Some(1500.0), Some(1600.0), Some(1700.0)]);
        let insulation: Vec<_> =
            parsed.readings.iter().map(|r| r.metrics.extra.get("riso[kohm]").copied()).collect();
        assert_eq!(insulation, [Some(40.0), Some(41.0), Some(42.0)]);
        assert_eq!(parsed.readings[1].metrics.get(Metric::Energy), Some(2000.0));
        assert_eq!(parsed.readings[0].status, Some(DeviceStatus::Producing));
        assert_eq!(parsed.readings[1].status, Some(DeviceStatus::Fault));
        assert_eq!(parsed.readings[2].status, None);
    }

    #[test]
    fn a_unit_that_does_not_measure_its_metric_quarantines_every_reading_that_uses_it() {
        let document = batch(&[
            reading(0, "<energy unit=\"kW\">1</energy>"),
            reading(1, "<energy unit=\"kWh\">1</energy>"),
            reading(2, "<energy unit=\"kW\">2</energy>"),
        ]);
        let parsed = parse(&document);
        assert_eq!(parsed.readings.len(), 1);
        assert_eq!(parsed.rejected.len(), 2);
        for rejected in &parsed.rejected {
            assert!(rejected.reason.contains("energy"), "{}", rejected.reason);
            assert!(rejected.content.starts_with("energy=") && rejected.content.ends_with(" kW"));
        }
    }

    #[test]
    fn a_quarantined_reading_keeps_every_value_as_sent_in_its_content() {
        let parsed = parse(&batch(&[reading(
            0,
            "<ac_power unit=\"W\"> 12 </ac_power><status>ok</status><energy unit=\"kW\">1</energy>\
             <riso>x<![CDATA[y]]>&amp;z</riso>",
        )]));
        let [rejected] = &parsed.rejected[..] else { panic!("one rejected: {parsed:?}") };
        assert_eq!(rejected.content, "ac_power=12 W; status=ok; energy=1 kW; riso=xy&z");
        assert!(rejected.reason.contains("energy"), "the first problem is kept: {}", rejected.reason);
    }

    #[test]
    fn a_value_longer_than_allowed_quarantines_its_reading_only() {
        let long = "1".repeat(40);
        let parsed = parse(&batch(&[
            reading(0, &format!("<ac_power>{long}<![CDATA[{long}]]></ac_power><energy>2</energy>")),
            reading(1, "<ac_power>12</ac_power>"),
        ]));
        let [rejected] = &parsed.rejected[..] else { panic!("one rejected: {parsed:?}") };
        assert!(rejected.reason.contains("ac_power is longer than 64"), "{}", rejected.reason);
        assert_eq!(rejected.content, format!("ac_power={long}; energy=2"));
        assert_eq!(parsed.readings.len(), 1);
    }

    #[test]
    fn more_distinct_tags_than_the_cache_holds_are_all_read_correctly() {
        let values: String = (0..100).map(|i| format!("<x{i} unit=\"u{i}\">{i}</x{i}>")).collect();
        let bad = format!("{values}<energy unit=\"kW\">1</energy>");
        let parsed = parse(&batch(&[reading(0, &values), reading(1, &bad), reading(2, &values)]));
        // The refused reading names each of its values by its own tag, cached or not.
        let [rejected] = &parsed.rejected[..] else { panic!("one rejected: {:?}", parsed.rejected) };
        assert!(rejected.content.starts_with("x0=0 u0; x1=1 u1;"), "{}", rejected.content);
        assert!(rejected.content.contains("; x70=70 u70; x71=71 u71;"), "{}", rejected.content);
        assert_eq!(parsed.readings.len(), 2);
        for reading in &parsed.readings {
            assert_eq!(reading.metrics.extra.len(), 100);
            for i in 0..100 {
                assert_eq!(reading.metrics.extra.get(&format!("x{i}[u{i}]")), Some(&f64::from(i)));
            }
        }
    }
}
