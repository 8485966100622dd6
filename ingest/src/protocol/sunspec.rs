//! SunSpec Model Data Exchange documents (placeholder until the parser lands).

use super::document::FormatParser;
use super::error::{ErrorCode, ProtocolError};
use super::xml::XmlEvent;
use super::{Document, Format, ParseContext};

/// Parses `<sunSpecData>` uploads.
#[derive(Default)]
pub(crate) struct SunSpecParser;

impl FormatParser for SunSpecParser {
    fn format(&self) -> Format {
        Format::SunSpec
    }
    fn event(
        &mut self,
        _event: XmlEvent<'_>,
        _context: &ParseContext,
    ) -> Result<(), ProtocolError> {
        Ok(())
    }
    fn finish(self: Box<Self>, _context: &ParseContext) -> Result<Document, ProtocolError> {
        Err(ProtocolError::new(ErrorCode::Invalid, "not yet"))
    }
}
