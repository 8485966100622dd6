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

/// An attribute's unescaped value, if present. A broken attribute, or the asked-for one given
/// twice, is refused (the other attributes are ignored, so their duplicates do not matter).
pub fn attribute<'a>(element: &'a BytesStart<'_>, name: &str) -> Result<Option<Cow<'a, str>>, ProtocolError> {
    let mut found = None;
    for attr in unchecked_attributes(element) {
        let attr =
            attr.map_err(|e| ProtocolError::new(ErrorCode::Malformed, format!("bad attribute: {e}")))?;
        if attr.key.local_name().as_ref() == name.as_bytes() {
            if found.is_some() {
                return Err(duplicate(name));
            }
            // Framing is intact whatever the value holds, so this refuses the document only.
            let value = attribute_value(&attr)
                .map_err(|e| ProtocolError::new(ErrorCode::Invalid, format!("attribute {name}: {e}")))?;
            found = Some(value);
        }
    }
    Ok(found)
}

/// The element's attributes without quick-xml's duplicate check, which allocates for every
/// element (the parser's hottest path); callers check the attributes they use themselves.
pub fn unchecked_attributes<'a>(
    element: &'a BytesStart<'_>,
) -> quick_xml::events::attributes::Attributes<'a> {
    let mut attributes = element.attributes();
    attributes.with_checks(false);
    attributes
}

/// The refusal of an attribute given twice.
pub fn duplicate(name: &str) -> ProtocolError {
    ProtocolError::new(ErrorCode::Invalid, format!("attribute {name} is given twice"))
}

/// An attribute's value with references resolved, as `Attribute::unescape_value` gives it; a
/// value holding no reference (nearly all do not) is only checked as UTF-8.
pub fn attribute_value<'a>(
    attr: &quick_xml::events::attributes::Attribute<'a>,
) -> Result<Cow<'a, str>, quick_xml::Error> {
    if let Cow::Borrowed(bytes) = attr.value
        && !bytes.contains(&b'&')
        && let Ok(text) = std::str::from_utf8(bytes)
    {
        return Ok(Cow::Borrowed(text));
    }
    attr.unescape_value()
}
