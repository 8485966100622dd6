//! One `<m>` start tag as sent: the model's label (its `id` as given) and number. A record's
//! models keep their slots from record to record like its points, so that the next record's same
//! model tag is compared by its bytes and not read again.

use std::ops::Range;

use quick_xml::events::BytesStart;

use super::point::{LastTag, MAX_TEXT};
use crate::protocol::error::ProtocolError;
use crate::protocol::xml::attribute;

/// One `<m>` as sent.
#[derive(Debug, Default)]
pub(super) struct ModelTag {
    /// The `id` attribute as sent (bounded), or `?` when missing: names the model's points in a
    /// refused record's content.
    pub(super) label: String,
    /// The model number, when the id is one.
    number: Option<u16>,
    /// Why the tag refuses its record, when it does.
    problem: Option<String>,
    /// The last [`Self::open`] read a tag unlike the slot's previous one.
    pub(super) changed: bool,
    /// The point slots this model's points were last interpreted in (meanings resolved, scale
    /// factors found), and the record's layout version after it.
    pub(super) interpreted: Option<(Range<usize>, u64)>,
    /// The start tag last read into this slot.
    tag: LastTag,
}

impl ModelTag {
    /// Reads a `<m>` start tag into this slot: the model number when valid, and the problem
    /// that refuses only the record otherwise. A broken attribute refuses the document.
    pub(super) fn open(
        &mut self,
        element: &BytesStart<'_>,
    ) -> Result<(Option<u16>, Option<&str>), ProtocolError> {
        self.changed = !self.tag.is(element);
        if self.changed {
            self.read(element)?;
            self.tag.remember(element);
        }
        Ok((self.number, self.problem.as_deref()))
    }

    fn read(&mut self, element: &BytesStart<'_>) -> Result<(), ProtocolError> {
        self.label.clear();
        self.number = None;
        self.problem = None;
        let Some(id) = attribute(element, "id")? else {
            self.label.push('?');
            self.problem = Some("<m> needs an id attribute (its model number)".to_owned());
            return Ok(());
        };
        self.label.extend(id.chars().take(MAX_TEXT));
        match id.trim().parse::<u16>().ok().or_else(|| number_of_name(&id)) {
            Some(number) => self.number = Some(number),
            None => {
                self.problem = Some(format!(
                    "model id {:?} is neither a SunSpec model number nor a model's name",
                    self.label
                ));
            }
        }
        Ok(())
    }
}

/// The model a logger names by a word rather than its number (one logger family writes
/// `<m id="inverter">`): the SunSpec information model's names of the models read here, in any
/// case, with `-` or a space for `_`. A model whose phases the name does not say is read as the
/// single-phase one: the points read are the same in each.
fn number_of_name(id: &str) -> Option<u16> {
    let name: String =
        id.trim().chars().map(|c| if c == '-' || c == ' ' { '_' } else { c.to_ascii_lowercase() }).collect();
    Some(match name.as_str() {
        "common" => 1,
        "inverter" | "inverter_single_phase" => 101,
        "inverter_split_phase" => 102,
        "inverter_three_phase" => 103,
        "mppt" | "multiple_mppt" => 160,
        "ac_meter" | "meter" | "meter_single_phase" => 201,
        "meter_split_phase" => 202,
        "meter_three_phase" | "meter_wye" => 203,
        "meter_delta" => 204,
        "irradiance" => 302,
        "back_of_module_temperature" | "module_temperature" => 303,
        "inclinometer" => 304,
        "base_met" | "meteorological" | "met" => 307,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(tag: &str) -> BytesStart<'_> {
        BytesStart::from_content(tag, 1)
    }

    #[test]
    fn a_tag_is_read_once_and_read_again_when_it_changes() {
        let mut slot = ModelTag::default();
        assert_eq!(slot.open(&start("m id=\"101\" x=\"1\"")).expect("well-formed"), (Some(101), None));
        assert_eq!(slot.label, "101");
        assert_eq!(slot.open(&start("m id=\"101\" x=\"1\"")).expect("well-formed"), (Some(101), None));
        assert_eq!(
            slot.open(&start("m id=\"inverter\"")).expect("well-formed"),
            (Some(101), None),
            "by its name"
        );
        assert_eq!(slot.open(&start("m id=\"Meter-Three-Phase\"")).expect("well-formed"), (Some(203), None));
        let (number, problem) = slot.open(&start("m id=\"toaster\"")).expect("well-formed");
        assert_eq!(
            (number, problem),
            (None, Some("model id \"toaster\" is neither a SunSpec model number nor a model's name"))
        );
        let (_, problem) = slot.open(&start("m")).expect("well-formed");
        assert_eq!(problem, Some("<m> needs an id attribute (its model number)"));
        assert_eq!(slot.label, "?");
        assert_eq!(slot.open(&start("m id=\" 160 \"")).expect("well-formed"), (Some(160), None));
    }

    #[test]
    fn a_broken_tag_is_refused_every_time() {
        let mut slot = ModelTag::default();
        for _ in 0..2 {
            assert!(slot.open(&start("m id=\"1\" id=\"2\"")).is_err());
        }
        assert_eq!(slot.open(&start("m id=\"1\"")).expect("well-formed"), (Some(1), None));
    }
}
