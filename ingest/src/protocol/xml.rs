//! The small view of XML the format parsers see: element starts, ends and text, with entity
//! references already resolved (only XML's five predefined entities and character references).

use std::borrow::Cow;

use quick_xml::events::BytesStart;

use super::error::{ErrorCode, ProtocolError};

/// One step inside a document's root element.
#[derive(Debug)]
pub enum XmlEvent<'a> {
    /// An element opens (an empty element is a `Start` followed at once by an `End`).
    Start(&'a BytesStart<'a>),
    /// The innermost open element closes.
    End,
    /// Character data, possibly in several pieces (text, CDATA, resolved references).
    Text(&'a str),
}

/// The element's local name (namespace prefix dropped), as UTF-8.
pub fn local_name<'a>(element: &'a BytesStart<'_>) -> Result<Cow<'a, str>, ProtocolError> {
    let name = element.local_name();
    match std::str::from_utf8(name.into_inner()) {
        Ok(name) => Ok(Cow::Borrowed(name)),
        Err(_) => Err(ProtocolError::new(ErrorCode::Malformed, "element name is not UTF-8")),
    }
}

/// An attribute's unescaped value, if present. Duplicate or broken attributes are refused.
pub fn attribute<'a>(element: &'a BytesStart<'_>, name: &str) -> Result<Option<Cow<'a, str>>, ProtocolError> {
    for attr in element.attributes() {
        let attr =
            attr.map_err(|e| ProtocolError::new(ErrorCode::Malformed, format!("bad attribute: {e}")))?;
        if attr.key.local_name().as_ref() == name.as_bytes() {
            // Framing is intact whatever the value holds, so this refuses the document only.
            let value = attr
                .unescape_value()
                .map_err(|e| ProtocolError::new(ErrorCode::Invalid, format!("attribute {name}: {e}")))?;
            return Ok(Some(value));
        }
    }
    Ok(None)
}
