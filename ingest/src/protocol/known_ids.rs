//! Device ids parsed once per document: a gateway's readings name the same few devices over
//! and over, and a known one is shared instead of validated and allocated again.

use heliograph_shared::{DeviceId, IdError};

/// The device ids a document has named so far.
#[derive(Debug, Default)]
pub(crate) struct KnownIds(Vec<DeviceId>);

impl KnownIds {
    /// Ids kept; a document naming more parses the others each time.
    const CAPACITY: usize = 16;

    /// `value` as a device id, as [`DeviceId::parse`] reads it.
    pub(crate) fn parse(&mut self, value: &str) -> Result<DeviceId, IdError> {
        if let Some(known) = self.0.iter().find(|id| id.as_str() == value) {
            return Ok(known.clone());
        }
        let id = DeviceId::parse(value)?;
        if self.0.len() < Self::CAPACITY {
            self.0.push(id.clone());
        }
        Ok(id)
    }
}
