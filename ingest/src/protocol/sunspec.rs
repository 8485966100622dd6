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
//! mean, `model_tag.rs` and `point.rs` how a model's and a point's tags are read, `record.rs` how
//! a record is assembled, `extras.rs` how its extras are kept, `description.rs` how its device is
//! described); a record that cannot be stored is quarantined and answered in its `dResult`
//! without refusing the others.

mod description;
mod extras;
mod model_tag;
mod models;
mod point;
mod record;
#[cfg(test)]
mod tests;

use std::cell::Cell;

use heliograph_shared::GatewayId;

use self::record::Record;
use super::document::FormatParser;
use super::error::{ErrorCode, ProtocolError};
use super::xml::{XmlEvent, local_name};
use super::{Document, Format, ParseContext, ReadingsDocument, effective_gateway};

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
    /// The current `<m>`'s model number, when valid.
    model: Option<u16>,
}

thread_local! {
    /// The parser of the last SunSpec document this thread finished, kept for its next one: a
    /// logger sends the same records document after document, so the next document's first
    /// record finds its point and model tags already read and interpreted, as every later
    /// record of one document does. What the slots keep derives from the tags' bytes alone,
    /// never from a gateway or a provider; a refused document's parser is dropped.
    static SPARE: Cell<Option<Box<SunSpecParser>>> = const { Cell::new(None) };
}

impl SunSpecParser {
    /// A parser for a new document: this thread's spare one when there is one.
    pub(crate) fn for_document() -> Box<Self> {
        let mut parser = SPARE.take().unwrap_or_default();
        let Self { depth, document, gateway, record, model } = &mut *parser;
        (*depth, *document, *gateway, *model) = (0, None, None, None);
        record.forget_document();
        parser
    }

    /// The document once its root element closed; the parser becomes this thread's spare.
    pub(crate) fn finish_boxed(mut parser: Box<Self>) -> Result<Document, ProtocolError> {
        let document = parser.take_document();
        SPARE.set(Some(parser));
        document
    }

    fn take_document(&mut self) -> Result<Document, ProtocolError> {
        self.document.take().map(Document::Readings).ok_or_else(|| invalid("empty <sunSpecData>"))
    }

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
        self.model = self.record.open_model(element)?;
        Ok(())
    }

    fn close_model(&mut self) {
        if let Some(model) = self.model.take() {
            self.record.close_model(model);
        }
    }

    fn close_record(&mut self) {
        if let (Some(document), Some(gateway)) = (self.document.as_mut(), self.gateway.as_ref()) {
            self.record.close(gateway, document);
        }
    }
}

impl FormatParser for SunSpecParser {
    fn format(&self) -> Format {
        Format::SunSpec
    }

    #[inline]
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
                // Compared as bytes: only a name to echo needs to be UTF-8. Names nearly never
                // carry a namespace prefix, so the local name is looked for only when needed.
                let name = element.name();
                if name.as_ref() != expected.as_bytes() && name.local_name().as_ref() != expected.as_bytes() {
                    let name = local_name(element)?;
                    return Err(invalid(format!(
                        "unexpected <{}>: <sunSpecData> holds <d> records, <d> holds <m> models, \
                         <m> holds <p> points",
                        name.chars().take(40).collect::<String>()
                    )));
                }
                match self.depth {
                    2 => self.open_record(element, context)?,
                    3 => self.open_model(element)?,
                    _ => self.record.open_point(element)?,
                }
            }
            XmlEvent::Text(text) => match self.depth {
                4 => self.record.push_text(text),
                _ if text.trim().is_empty() => {}
                _ => return Err(invalid("unexpected text outside a <p> point")),
            },
            XmlEvent::End => {
                match self.depth {
                    3 => self.close_model(),
                    2 => self.close_record(),
                    _ => {}
                }
                self.depth = self.depth.saturating_sub(1);
            }
        }
        Ok(())
    }

    fn finish(mut self, _context: &ParseContext) -> Result<Document, ProtocolError> {
        self.take_document()
    }
}
