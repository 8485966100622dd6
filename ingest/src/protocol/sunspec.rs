//! SunSpec Model Data Exchange documents, as real data loggers upload them:
//!
//! ```xml
//! <sunSpecData v="1">
//!   <d lid="11:22:33:44:55:66" man="gsc" mod="r300" sn="123456" t="2011-05-12T09:21:49Z" cid="2">
//!     <m id="101" x="1">
//!       <p id="A" sf="-2">3043</p><p id="PhVphA">2216</p><p id="V_SF">-1</p>
//!       <p id="W" u="Watts">6701.3</p><p id="St">4</p>
//!     </m>
//!   </d>
//! </sunSpecData>
//! ```
//!
//! Each `<d>` record becomes one reading merging all its models (`models.rs` says what the points
//! mean, `record.rs` how a record is assembled); a record that cannot be stored is quarantined
//! and answered in its `dResult` without refusing the others.

mod models;
mod record;
#[cfg(test)]
mod tests;

use heliograph_shared::{Device, GatewayId};

use self::record::{Closed, MAX_TEXT, Point, Record};
use super::document::FormatParser;
use super::error::{ErrorCode, ProtocolError};
use super::xml::{XmlEvent, attribute, local_name};
use super::{Document, Format, ParseContext, ReadingsDocument, effective_gateway};

/// Most `<p>` points one `<d>` record may carry (a full inverter with every model has a few
/// hundred).
const MAX_POINTS_PER_RECORD: usize = 4096;

fn invalid(reason: impl Into<String>) -> ProtocolError {
    ProtocolError::new(ErrorCode::Invalid, reason)
}

/// Parses `<sunSpecData>` uploads.
#[derive(Default)]
pub(crate) struct SunSpecParser {
    depth: usize,
    document: Option<ReadingsDocument>,
    gateway: Option<GatewayId>,
    record: Record,
    /// The current `<m>`'s id as sent (bounded), and as a number when valid.
    model_label: String,
    model: Option<u16>,
    /// The current model's points, buffered until `</m>` because a `*_SF` point may follow the
    /// points it scales; entries are reused, `used` of them hold this model's points.
    points: Vec<Point>,
    used: usize,
}

impl SunSpecParser {
    fn open_root(&mut self, context: &ParseContext) -> Result<(), ProtocolError> {
        self.document = Some(ReadingsDocument {
            format: Format::SunSpec,
            seq: None,
            credentials: None,
            readings: Vec::new(),
            rejected: Vec::new(),
            devices: Vec::new(),
            records: Vec::new(),
        });
        self.gateway = Some(effective_gateway(None, context.session_gateway.as_ref())?);
        Ok(())
    }

    fn open_record(
        &mut self,
        element: &quick_xml::events::BytesStart<'_>,
        context: &ParseContext,
    ) -> Result<(), ProtocolError> {
        let index = self.document.as_ref().map_or(0, |d| d.records.len()) + 1;
        if index > context.max_readings {
            return Err(ProtocolError::new(
                ErrorCode::TooManyReadings,
                format!("more than {} <d> records in one document; split it", context.max_readings),
            ));
        }
        self.record.open(index, element, context)
    }

    fn open_model(&mut self, element: &quick_xml::events::BytesStart<'_>) -> Result<(), ProtocolError> {
        self.used = 0;
        self.model_label.clear();
        self.model = None;
        let Some(id) = attribute(element, "id")? else {
            self.model_label.push('?');
            self.record.refuse("<m> needs an id attribute (its model number)");
            return Ok(());
        };
        self.model_label.extend(id.chars().take(MAX_TEXT));
        match id.trim().parse::<u16>() {
            Ok(model) => self.model = Some(model),
            Err(_) => {
                self.record.refuse(format!("model id {:?} is not a SunSpec model number", self.model_label))
            }
        }
        Ok(())
    }

    fn open_point(&mut self, element: &quick_xml::events::BytesStart<'_>) -> Result<(), ProtocolError> {
        self.record.points += 1;
        if self.record.points > MAX_POINTS_PER_RECORD {
            return Err(ProtocolError::new(
                ErrorCode::TooManyReadings,
                format!("more than {MAX_POINTS_PER_RECORD} points in one <d> record; split it"),
            ));
        }
        if self.used == self.points.len() {
            self.points.push(Point::default());
        }
        let point = &mut self.points[self.used];
        self.used += 1;
        if let Some(problem) = point.open(element)? {
            self.record.refuse(problem);
        }
        Ok(())
    }

    fn close_point(&mut self) {
        if let Some(point) = self.used.checked_sub(1).and_then(|i| self.points.get(i)) {
            self.record.note_point(&self.model_label, point);
        }
    }

    fn close_model(&mut self) {
        if let Some(model) = self.model {
            for point in &mut self.points[..self.used] {
                point.resolve(model);
            }
            self.record.add_model(model, &self.points[..self.used]);
        }
        self.used = 0;
    }

    fn close_record(&mut self) {
        let (Some(document), Some(gateway)) = (self.document.as_mut(), self.gateway.as_ref()) else {
            return;
        };
        let Closed { outcome, result } = self.record.close(gateway);
        document.records.push(outcome);
        match result {
            Ok((reading, device)) => {
                describe(&mut document.devices, device);
                document.readings.push(reading);
            }
            Err(rejected) => document.rejected.push(rejected),
        }
    }
}

/// Adds a device description, one per device: a later record's description replaces an earlier
/// one, and the device was last seen at the latest of their timestamps.
fn describe(devices: &mut Vec<Device>, device: Device) {
    match devices.iter_mut().find(|d| d.id == device.id) {
        Some(known) => {
            let last_seen = known.last_seen.max(device.last_seen);
            *known = Device { last_seen, ..device };
        }
        None => devices.push(device),
    }
}

impl FormatParser for SunSpecParser {
    fn format(&self) -> Format {
        Format::SunSpec
    }

    fn event(&mut self, event: XmlEvent<'_>, context: &ParseContext) -> Result<(), ProtocolError> {
        match event {
            XmlEvent::Start(element) => {
                self.depth += 1;
                let expected = match self.depth {
                    1 => return self.open_root(context),
                    2 => "d",
                    3 => "m",
                    4 => "p",
                    _ => return Err(invalid("<p> takes no child elements")),
                };
                let name = local_name(element)?;
                if name != expected {
                    return Err(invalid(format!(
                        "unexpected <{}>: <sunSpecData> holds <d> records, <d> holds <m> models, \
                         <m> holds <p> points",
                        name.chars().take(40).collect::<String>()
                    )));
                }
                match self.depth {
                    2 => self.open_record(element, context)?,
                    3 => self.open_model(element)?,
                    _ => self.open_point(element)?,
                }
            }
            XmlEvent::Text(text) => match self.depth {
                4 => {
                    if let Some(point) = self.used.checked_sub(1).and_then(|i| self.points.get_mut(i)) {
                        point.push_text(text);
                    }
                }
                _ if text.trim().is_empty() => {}
                _ => return Err(invalid("unexpected text outside a <p> point")),
            },
            XmlEvent::End => {
                match self.depth {
                    4 => self.close_point(),
                    3 => self.close_model(),
                    2 => self.close_record(),
                    _ => {}
                }
                self.depth = self.depth.saturating_sub(1);
            }
        }
        Ok(())
    }

    fn finish(self: Box<Self>, _context: &ParseContext) -> Result<Document, ProtocolError> {
        self.document.map(Document::Readings).ok_or_else(|| invalid("empty <sunSpecData>"))
    }
}
