//! A device's description (manufacturer, model name, serial number) as a record gives it, and
//! the document's one description per device. Consecutive records of one device describe it the
//! same way, so a description is copied into the document only when it is new or changes.

use chrono::{DateTime, Utc};
use heliograph_shared::{Device, DeviceId, DeviceKind, GatewayId};

use super::point::MAX_TEXT;

/// A description from a record's `<d>` attributes or its common model; an empty field was not
/// given. The buffers are reused from record to record.
#[derive(Debug, Default)]
pub(super) struct Description {
    pub(super) manufacturer: String,
    pub(super) model: String,
    pub(super) serial: String,
}

impl Description {
    /// Forgets the previous record's description, keeping the buffers.
    pub(super) fn clear(&mut self) {
        self.manufacturer.clear();
        self.model.clear();
        self.serial.clear();
    }
}

/// Sets a field from a value as sent: trimmed, without control characters, bounded.
pub(super) fn fill(field: &mut String, value: &str) {
    field.clear();
    let trimmed = value.trim();
    if trimmed.len() <= MAX_TEXT && !trimmed.contains(char::is_control) {
        field.push_str(trimmed);
    } else {
        field.extend(trimmed.chars().filter(|c| !c.is_control()).take(MAX_TEXT));
    }
}

/// Sets a field unless the record already gave it.
pub(super) fn fill_once(field: &mut String, value: &str) {
    if field.is_empty() {
        fill(field, value);
    }
}

/// The device a stored record describes.
pub(super) struct Described<'a> {
    pub(super) gateway: &'a GatewayId,
    pub(super) id: &'a DeviceId,
    pub(super) kind: DeviceKind,
    /// The `<d>` attributes' description, preferred field by field to the common model's.
    pub(super) own: &'a Description,
    pub(super) common: &'a Description,
    pub(super) ts: DateTime<Utc>,
}

impl Described<'_> {
    fn pick<'a>(own: &'a str, common: &'a str) -> &'a str {
        if own.is_empty() { common } else { own }
    }

    /// Adds the description to the document's, one per device: a later record's description
    /// replaces an earlier one, and the device was last seen at the latest of their timestamps.
    pub(super) fn add_to(&self, devices: &mut Vec<Device>) {
        let manufacturer = Self::pick(&self.own.manufacturer, &self.common.manufacturer);
        let model = Self::pick(&self.own.model, &self.common.model);
        let serial = Self::pick(&self.own.serial, &self.common.serial);
        match devices.iter_mut().find(|device| device.id == *self.id) {
            Some(known) => {
                known.kind = self.kind;
                replace(&mut known.manufacturer, manufacturer);
                replace(&mut known.model, model);
                replace(&mut known.serial, serial);
                known.last_seen = known.last_seen.max(Some(self.ts));
            }
            None => devices.push(Device {
                gateway: self.gateway.clone(),
                id: self.id.clone(),
                kind: self.kind,
                manufacturer: owned(manufacturer),
                model: owned(model),
                serial: owned(serial),
                last_seen: Some(self.ts),
            }),
        }
    }
}

fn owned(field: &str) -> Option<String> {
    (!field.is_empty()).then(|| field.to_owned())
}

/// Makes `slot` say `field`, allocating only when it says something else.
fn replace(slot: &mut Option<String>, field: &str) {
    if slot.as_deref().unwrap_or_default() != field {
        *slot = owned(field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_trimmed_printable_bounded_and_set_once_by_the_common_model() {
        let mut description = Description::default();
        fill(&mut description.manufacturer, "  Fronius\u{7}  ");
        assert_eq!(description.manufacturer, "Fronius");
        fill(&mut description.model, &"M".repeat(100));
        assert_eq!(description.model.len(), MAX_TEXT);
        fill_once(&mut description.manufacturer, "SMA");
        fill_once(&mut description.serial, "SN-1");
        assert_eq!((description.manufacturer.as_str(), description.serial.as_str()), ("Fronius", "SN-1"));
        description.clear();
        assert!(description.manufacturer.is_empty() && description.model.is_empty());
    }

    #[test]
    fn a_later_record_replaces_the_description_and_the_latest_timestamp_stays() {
        let gateway = GatewayId::parse("GW-1").expect("valid gateway id");
        let id = DeviceId::parse("INV1").expect("valid device id");
        let at = |text: &str| text.parse::<DateTime<Utc>>().expect("valid timestamp");
        let mut own = Description::default();
        let mut common = Description::default();
        fill(&mut own.manufacturer, "gsc");
        fill(&mut common.manufacturer, "ignored: the attribute wins");
        fill(&mut common.model, "r300");
        let mut devices = Vec::new();
        let mut described = Described {
            gateway: &gateway,
            id: &id,
            kind: DeviceKind::Inverter,
            own: &own,
            common: &common,
            ts: at("2013-06-01T12:05:00Z"),
        };
        described.add_to(&mut devices);
        let no_model = Description::default();
        described.common = &no_model;
        described.ts = at("2013-06-01T12:00:00Z");
        described.add_to(&mut devices);
        let [device] = &devices[..] else { panic!("one device: {devices:?}") };
        assert_eq!(device.manufacturer.as_deref(), Some("gsc"));
        assert_eq!(device.model, None, "the later record's description replaces the earlier one");
        assert_eq!(device.last_seen, Some(at("2013-06-01T12:05:00Z")));
    }
}
